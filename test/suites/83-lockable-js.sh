#!/usr/bin/env bash
# 83-lockable-js: lockable.js's state machine (and LockableForm) in Node,
# python/tests_js/*.test.mjs with node:test: no npm package, no browser.
# A fake socket and a fake clock drive the client, so nothing waits on real
# time; the browser suite (85) runs the same module against real servers.
#
# Node comes from Debian's nodejs (18 on Debian 12), installed when missing;
# a machine where it cannot be had (not root, no network) reports the suite
# as skipped, never as passed.
source "$(dirname "$0")/../lib.sh"
if ! command -v node >/dev/null 2>&1; then
    EnsurePackages nodejs || true
fi
if ! command -v node >/dev/null 2>&1; then
    echo "skipped: no node, and Debian's nodejs could not be installed"
    exit "$SKIP"
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 18 ]; then
    echo "skipped: node $(node --version) is older than 18 (node:test's describe and the tap reporter)"
    exit "$SKIP"
fi

cd "$LOCKABLE_TOP/python"
out=$(mktemp /tmp/lockable-js.XXXXXX)
trap 'rm -f "$out"' EXIT
rc=0
node --test --test-reporter=tap tests_js/*.test.mjs >"$out" 2>&1 || rc=$?
cat "$out"
passed=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$out" | tail -n 1)
failed=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$out" | tail -n 1)
passed=${passed:-0} failed=${failed:-0}
[ $rc -ne 0 ] && [ "$failed" -eq 0 ] && failed=1  # node failed before counting
line="lockable.js in node $(node --version): $passed passed, $failed failed"
echo "$line"
[ -n "${LOCKABLE_SUITE_REPORT:-}" ] && echo "$line" >>"$LOCKABLE_SUITE_REPORT"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
