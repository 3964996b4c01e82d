#!/usr/bin/env bash
# Hot standby (TAP): lock_owner and the views answer on a streaming standby
# and may lag; lock_verify, the fencing check, is refused there (55000).
# See test/reliability/t/003_standby.pl.
exec "$(dirname "$0")/../reliability/run-tap.sh" \
    "$(dirname "$0")/../reliability/t/003_standby.pl"
