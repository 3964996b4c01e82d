#!/usr/bin/env bash
# Failover (TAP): a synchronous standby promoted after the primary stops
# abruptly keeps every lock and token.  See test/reliability/t/002_failover.pl.
exec "$(dirname "$0")/../reliability/run-tap.sh" \
    "$(dirname "$0")/../reliability/t/002_failover.pl"
