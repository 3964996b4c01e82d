#!/usr/bin/env bash
# test/versions/matrix.sh: the version matrix of "make test" (README,
# "Supported versions").  Sourced by test/run.sh after the full run on
# Debian 12's PostgreSQL 15; uses its counters (RunSuite, RecordGroup).
#
#   RunMatrix   the core suites (test/run.sh core) on
#                 - PostgreSQL 18, built once from $LOCKABLE_PG18_SRC (a
#                   source tarball; .ci/run points it at
#                   ../shared/vendor/postgresql-18.6.tar.xz);
#                 - PostgreSQL 17, Debian 13's packages in a trixie root made
#                   once with debootstrap, built and tested inside it, as a
#                   Debian 13 user has it;
#               then the pg_upgrade check from 15 to 18
#               (test/versions/pg-upgrade.sh).
#
# Each build of lockable is made in a copy of the tree of its own, so that
# the objects of one server never end up in another's module.  A server
# that cannot be had (no tarball, no mirror for debootstrap) is one
# "skipped" line in the summary, with the reason.
source "$LOCKABLE_TOP/test/versions/servers.sh"

# The majors that make test builds and tests: Debian 12's default server
# (the full run), then the matrix.  README's "Supported versions" table and
# META.json must say the same (test/suites/12-version-claims.sh).
MATRIX_VERSIONS="15 18 17"

# CopyTree DIR: the clone's files (tracked and new, not ignored) into DIR.
CopyTree() {
    local dir=$1
    mkdir -p "$dir"
    if git -C "$LOCKABLE_TOP" rev-parse --git-dir >/dev/null 2>&1; then
        git -C "$LOCKABLE_TOP" ls-files -z -co --exclude-standard |
            (cd "$LOCKABLE_TOP" && tar --null -T - -cf - 2>/dev/null) | tar -xf - -C "$dir"
    else
        (cd "$LOCKABLE_TOP" && tar --exclude=./.git -cf - .) | tar -xf - -C "$dir"
    fi
    chmod -R a+rX "$dir"
}

# AddNestedCounts LABEL FILE: the counts a nested "test/run.sh core" wrote.
AddNestedCounts() {
    local label=$1 file=$2 p f s line
    if [ ! -s "$file" ]; then
        group_lines+=("$label: FAILED before its suites ran")
        total_failed=$((total_failed + 1))
        return
    fi
    read -r p f s <"$file"
    line=$(sed -n 2p "$file")
    group_lines+=("$line")
    total_passed=$((total_passed + p))
    total_failed=$((total_failed + f))
    total_skipped=$((total_skipped + s))
}

SkipVersion() {
    group_lines+=("PostgreSQL $1: skipped ($2)")
    total_skipped=$((total_skipped + 1))
}

PG18_CONFIG=

RunPostgres18() {
    local work rc=0
    Say "PostgreSQL 18"
    EnsureSourceServer "${LOCKABLE_PG18_SRC:-}" || rc=$?
    if [ $rc -eq 1 ]; then
        SkipVersion 18 "$WHY"
        return
    elif [ $rc -ne 0 ]; then
        group_lines+=("PostgreSQL 18: FAILED ($WHY)")
        total_failed=$((total_failed + 1))
        return
    fi
    PG18_CONFIG=$SOURCE_PG_CONFIG
    work=$(mktemp -d /tmp/lockable-pg18.XXXXXX)
    CopyTree "$work"
    (cd "$work" && env -u PG_MAJOR -u PGHOST -u PGPORT PG_CONFIG="$PG18_CONFIG" \
        test/run.sh core --counts "$work/counts") || true
    AddNestedCounts "PostgreSQL 18" "$work/counts"
    rm -rf "$work"
}

RunPostgres17() {
    local work
    Say "PostgreSQL 17"
    if ! EnsureDebianRoot trixie 17; then
        SkipVersion 17 "$WHY"
        return
    fi
    work=$(mktemp -d "$DEBIAN_ROOT/tmp/lockable-pg17.XXXXXX")
    CopyTree "$work"
    RunInRoot "$DEBIAN_ROOT" PG_CONFIG=/usr/lib/postgresql/17/bin/pg_config \
        LOCKABLE_FSYNC="${LOCKABLE_FSYNC:-off}" \
        "/tmp/$(basename "$work")/test/run.sh" core --counts "/tmp/$(basename "$work")/counts" ||
        true
    AddNestedCounts "PostgreSQL 17" "$work/counts"
    rm -rf "$work"
}

# RunPgUpgrade: pg_upgrade from 15 to 18.  The old server is the oldest 15
# that apt offers (Debian 12's point release, 15.18 in December 2026), with
# lockable built for it in a copy of the tree: pg_upgrade needs the new
# server's minor release to be at least as new as the old one's, and the
# 15.20 security update stores column versions (the "pg_attver" column
# option) that 18.6, released before it, cannot restore.
RunPgUpgrade() {
    local work
    if [ -z "$PG18_CONFIG" ]; then
        echo "skipped: no PostgreSQL 18"
        return "$SKIP"
    fi
    if ! EnsureOlderDebianServer 15; then
        echo "skipped: $WHY"
        return "$SKIP"
    fi
    work=$(mktemp -d /tmp/lockable-pg15.XXXXXX)
    CopyTree "$work"
    if ! (cd "$work" && make -s PG_CONFIG="$OLDER_PG_CONFIG" >/dev/null &&
        make -s PG_CONFIG="$OLDER_PG_CONFIG" install >/dev/null); then
        rm -rf "$work"
        echo "building lockable for $("$OLDER_PG_CONFIG" --version) failed"
        return 1
    fi
    rm -rf "$work"
    test/versions/pg-upgrade.sh "$OLDER_PG_CONFIG" "$PG18_CONFIG"
}

RunMatrix() {
    RunPostgres18
    RunPostgres17
    RunSuite pg-upgrade-15-to-18 RunPgUpgrade
    RecordGroup "across versions"
}
