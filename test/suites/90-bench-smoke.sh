#!/usr/bin/env bash
# 90-bench-smoke: the benchmark harness of "make bench" in its smoke form.
#
# Runs every scenario of test/bench/run.sh (lockable, the PL/pgSQL baseline,
# the raw upsert, advisory locks, Redis; the UPDATE triggers; notifications;
# the scale check at small scale) for about a second each, once, on its own
# throwaway cluster and Redis server.  No performance target is checked
# here: figures are noise at this length.  It fails if any scenario errors
# or yields no figure, so that the harness cannot rot between full runs.
set -euo pipefail
exec "$(dirname "$0")/../bench/run.sh" --smoke
