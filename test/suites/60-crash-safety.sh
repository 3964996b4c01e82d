#!/usr/bin/env bash
# Crash safety (TAP): SIGKILL the postmaster under load; acknowledged grants
# survive with their tokens.  See test/reliability/t/001_crash_safety.pl.
exec "$(dirname "$0")/../reliability/run-tap.sh" \
    "$(dirname "$0")/../reliability/t/001_crash_safety.pl"
