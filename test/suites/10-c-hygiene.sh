#!/usr/bin/env bash
# C hygiene: cppcheck runs clean over src/, and every object is compiled
# with -Wall -Wextra -Werror, so that a warning fails the build.
source "$(dirname "$0")/../lib.sh"
EnsurePackages cppcheck
cd "$LOCKABLE_TOP"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. cppcheck, with PostgreSQL's headers so that it understands PG_TRY and
# friends, in the one configuration we build (gcc).  Findings inside the
# server's own headers are PostgreSQL's business, not ours.  shadowFunction
# is off: fmgrprotos.h declares a C function for every built-in SQL
# function (now, text, ...), so a local variable named "now" would always
# "shadow" one.
cppcheck --enable=warning,style,performance,portability \
    --std=c99 --error-exitcode=1 --quiet --inline-suppr -D__GNUC__ \
    --suppress=missingIncludeSystem --suppress=shadowFunction \
    --suppress="*:$("$PG_CONFIG" --includedir-server)/*" \
    -I src -I "$("$PG_CONFIG" --includedir-server)" \
    src/ 2>"$tmp/cppcheck.txt" || {
    cat "$tmp/cppcheck.txt"
    echo "cppcheck: findings above"
    exit 1
}
echo "cppcheck: $(ls src/*.c | wc -l) C files, no findings"

# 2. The compile command of every object carries the warning flags.
objs=$(make -s --no-print-directory -p -n 2>/dev/null | sed -n 's/^OBJS = //p' | head -1)
[ -n "$objs" ] || { echo "cannot read OBJS from the Makefile"; exit 1; }
for obj in $objs; do
    cmd=$(make -s --no-print-directory -n -B "$obj" | grep -- " -c ")
    for flag in -Wall -Wextra -Werror; do
        grep -q -- " $flag " <<<"$cmd" || {
            echo "$obj is compiled without $flag: $cmd"
            exit 1
        }
    done
done
echo "compile flags: -Wall -Wextra -Werror on $(wc -w <<<"$objs") objects"

# 3. And they bite: the same command line refuses a file with a warning.
src=${objs%% *}
src=${src%.o}.c
cmd=$(make -s --no-print-directory -n -B "${src%.c}.o" | grep -- " -c ")
cat >"$tmp/probe.c" <<'C'
#include "postgres.h"
int probe(void);
int probe(void) { int unused; return 0; }
C
probe_cmd=${cmd/-o ${src%.c}.o $src/-o $tmp/probe.o $tmp/probe.c}
if eval "$probe_cmd" >"$tmp/probe.txt" 2>&1; then
    echo "a file with an unused variable compiled: warnings are not errors"
    exit 1
fi
grep -q 'Werror' "$tmp/probe.txt" || { cat "$tmp/probe.txt"; exit 1; }
echo "compile flags: a warning stops the build"
