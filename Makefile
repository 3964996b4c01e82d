# lockable: lease locks, fencing tokens and lost-update protection for
# PostgreSQL.  Built with PGXS; see README.md for the commands.

EXTENSION = lockable
MODULE_big = lockable
OBJS = \
	src/lockable.o \
	src/trust.o \
	src/citus.o \
	src/table_write.o \
	src/lock_table.o \
	src/history.o \
	src/notify.o \
	src/owners.o \
	src/queue.o \
	src/sweeper.o \
	src/wait.o \
	src/calls.o \
	src/locks.o \
	src/transfer.o \
	src/presence.o \
	src/trigger_cache.o \
	src/version_check.o \
	src/enforce_lock.o \
	src/announce_save.o \
	src/trigger_setup.o \
	src/distribute.o

DATA = lockable--1.0.sql lockable--1.0--1.1.sql lockable--1.1--1.2.sql \
	lockable--1.2.sql lockable--1.2--1.3.sql lockable--1.3.sql \
	lockable--1.3--1.4.sql lockable--1.4.sql
PGFILEDESC = "lockable - lease locks with fencing tokens"

# The pg_regress suite lives in sql/ and expected/, where PGXS looks for it.
REGRESS = setup acquire release admin validation security storage trust queue \
	version_check enforce_lock trigger_setup trigger_memory upgrade \
	privileges hardening transfer presence
REGRESS_OPTS = --inputdir=.

# Isolation specs live under test/isolation; "make installcheck" runs them
# against a running server, "make test" against a throwaway cluster.
ISOLATION = first_grant acquire_release takeover stale_owner wait_release wait_race \
	wait_bound notify queue_join_release queue_handoff queue_release_all \
	queue_notify version_race fenced_write enforce_row_locks wait_line_appears \
	wait_stale_timeout grant_after_wait wait_wake release_all_atomic \
	enforce_freeze wait_relation_lock transfer_race presence_race
ISOLATION_OPTS = --inputdir=test/isolation --outputdir=output_iso \
	--load-extension=lockable

EXTRA_CLEAN = results regression.diffs regression.out output_iso \
	test/tmp

# Warnings are errors: a warning in a lock manager is a bug waiting to happen.
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Werror

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies unless PostgreSQL was configured with
# --enable-depend: rebuild every object when any of our headers changes.
$(OBJS): $(wildcard src/*.h)

.PHONY: test demo bench bench-ab stress demo-web bench-web print-regress print-isolation

# The two README commands: each installs what is missing, builds, installs,
# runs on a throwaway cluster and cleans up after itself.
test:
	test/run.sh test

demo:
	test/run.sh demo

bench:
	test/run.sh bench

# Two builds measured against each other in one run: LOCKABLE_AB_BASE (a
# git revision, default 1.3's last commit) and the working tree.
bench-ab:
	test/run.sh bench-ab

stress:
	test/run.sh stress

# django-lockable's live editing: the example site on 127.0.0.1:8000 (Ctrl-C
# stops it), and its websocket load bench.
demo-web:
	test/run.sh demo-web

bench-web:
	test/run.sh bench-web

# Used by test/run.sh, so the suite lists live in one place.
print-regress:
	@echo $(REGRESS)
print-isolation:
	@echo $(ISOLATION)
