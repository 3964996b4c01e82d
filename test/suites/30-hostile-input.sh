#!/usr/bin/env bash
# Hostile and odd input, table-driven: see test/reliability/hostile.pl.
source "$(dirname "$0")/../lib.sh"
EnsurePackages libdbd-pg-perl

db=lockable_hostile
createdb "$db"
trap 'dropdb --if-exists "$db"' EXIT
psql -X -q -d "$db" -c 'CREATE EXTENSION lockable'
PGDATABASE=$db perl "$LOCKABLE_TOP/test/reliability/hostile.pl"
