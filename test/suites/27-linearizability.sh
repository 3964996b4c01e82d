#!/usr/bin/env bash
# Linearizability (issue 20): concurrent clients record a history of lock
# calls (lock_acquire with and without queue or wait, lock_release,
# lock_release_all, reads of the views), each call with its invocation and
# completion times, a call whose connection was lost pending; Porcupine
# checks it against a sequential model of the lock, the line and
# release_all (test/reliability/linearizability, Go).  Then the checker's
# own unit tests and a self-test show that it can fail: corrupted copies of
# the history (a double grant, a token that goes backwards, a skipped
# waiter) must be rejected.  Every ttl is an hour, so nothing expires
# during the run; expiry is not part of the model.  amcheck afterwards, as
# after every hammer.  Any violation, an unknown verdict (the checker ran
# out of time), a call failing with an error (a deadlock, say), or an
# accepted corruption fails the suite.
#
# Go modules come through the module proxy into a cache outside the clone
# (/var/cache/lockable/go as root, ~/.cache/lockable-go otherwise, or
# LOCKABLE_GO_CACHE), so that git clean keeps it; without go, or without
# the modules, the suite is skipped.  A failing run leaves the history and
# Porcupine's views in test/tmp/linearizability/.
source "$(dirname "$0")/../lib.sh"
EnsurePackages libdbd-pg-perl

command -v go >/dev/null || { echo "skipped: go is not installed"; exit "$SKIP"; }
if [ -z "${LOCKABLE_GO_CACHE:-}" ]; then
    if [ "$(id -u)" = 0 ]; then
        LOCKABLE_GO_CACHE=/var/cache/lockable/go
    else
        LOCKABLE_GO_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/lockable-go
    fi
fi
export GOMODCACHE=$LOCKABLE_GO_CACHE/mod GOCACHE=$LOCKABLE_GO_CACHE/build
# the installed go, the committed go.sum, nothing written into the clone
export GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false"
mkdir -p "$GOMODCACHE" "$GOCACHE"

src=$LOCKABLE_TOP/test/reliability/linearizability
keep=$LOCKABLE_TOP/test/tmp/linearizability
work=$(mktemp -d /tmp/lockable-lin.XXXXXX)
db=lockable_linearizability
trap 'dropdb --if-exists "$db" 2>/dev/null || true; rm -rf "$work"' EXIT

(cd "$src" && go mod download) >"$work/download.log" 2>&1 || {
    tail -3 "$work/download.log"
    echo "skipped: Go modules not available (is the module proxy reachable?)"
    exit "$SKIP"
}

Say "the checker's unit tests"
unformatted=$(cd "$src" && gofmt -l .)
[ -z "$unformatted" ] || { echo "not gofmt-formatted: $unformatted"; exit 1; }
(cd "$src" && go vet ./... && go test -count=1 ./...)
(cd "$src" && go build -o "$work/lincheck" ./cmd/lincheck)

createdb "$db"
psql -X -q -d "$db" -c 'CREATE EXTENSION lockable'
export PGDATABASE=$db

Say "recording"
"$work/lincheck" record -out "$work/history.jsonl" ${LOCKABLE_LIN_RECORD:-}

rc=0
Say "checking"
rm -rf "$keep"
"$work/lincheck" check -html "$keep" "$work/history.jsonl" || rc=1
Say "self-test: corrupted histories"
"$work/lincheck" selftest "$work/history.jsonl" || rc=1

Say "storage"
perl -I"$LOCKABLE_TOP/test/reliability" -MDBI -MStorageCheck -e '
    my $dbh = DBI->connect("dbi:Pg:", undef, undef,
        { AutoCommit => 1, RaiseError => 1, PrintError => 0 });
    my ($summary, @problems) = StorageCheck::Check($dbh, "lockable.locks", "lockable.places");
    print "  storage: $summary\n";
    print "  VIOLATION $_\n" for @problems;
    exit(@problems ? 1 : 0);' || rc=1

if [ $rc -ne 0 ]; then
    mkdir -p "$keep"
    cp "$work/history.jsonl" "$keep/"
    echo "history and Porcupine's views kept in $keep"
fi
exit $rc
