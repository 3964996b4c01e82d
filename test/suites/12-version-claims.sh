#!/usr/bin/env bash
# 12-version-claims: what the README and META.json claim about PostgreSQL
# versions is what make test runs.  The majors of the version matrix
# (MATRIX_VERSIONS in test/versions/matrix.sh) must be exactly the rows of
# README's "Supported versions" table marked as built and tested, and
# META.json's x_postgresql_versions.tested; every other row of the table
# must say it was not built.
source "$(dirname "$0")/../lib.sh"
cd "$LOCKABLE_TOP"

matrix=$(sed -n 's/^MATRIX_VERSIONS="\(.*\)"$/\1/p' test/versions/matrix.sh | tr ' ' '\n' | sort -n | xargs)
# The table: from the "## Supported versions" heading to the next heading,
# rows "| <major> | <where it came from> | <built and tested> | ...".
table=$(sed -n '/^## Supported versions$/,/^## /p' README.md | grep -E '^\| [0-9]+ \|')
tested=$(awk -F'|' '$4 ~ /^ *yes/ { gsub(/ /, "", $2); print $2 }' <<<"$table" | sort -n | xargs)
untested=$(awk -F'|' '$4 !~ /^ *yes/ { gsub(/ /, "", $2); print $2 }' <<<"$table" | sort -n | xargs)
meta=$(/usr/bin/python3 -c 'import json; print(" ".join(sorted(json.load(open("META.json"))["x_postgresql_versions"]["tested"], key=int)))')

failed=0
Expect() {
    if [ "$2" = "$3" ]; then
        echo "ok: $1: $2"
    else
        echo "FAIL: $1: \"$2\", but the matrix runs \"$3\""
        failed=1
    fi
}
Expect "README's table, built and tested" "$tested" "$matrix"
Expect "META.json, x_postgresql_versions.tested" "$meta" "$matrix"
for v in $untested; do
    grep -qw "$v" <<<"$matrix" && { echo "FAIL: README says $v is not built, the matrix runs it"; failed=1; }
done
echo "README rows not built here: ${untested:-none}"
exit $failed
