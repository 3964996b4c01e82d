#!/usr/bin/env bash
# The README's Django example for the triggers, run for real: Debian's
# Django, Django REST framework and psycopg2 against the throwaway cluster
# (test/django/check_triggers.py says what is checked).  Django connects as
# an ordinary role that owns its database, as an application would.
source "$(dirname "$0")/../lib.sh"
EnsurePackages python3 python3-psycopg2 python3-django python3-djangorestframework
cd "$LOCKABLE_TOP"

export LOCKABLE_DJANGO_DB=lockable_django
export LOCKABLE_DJANGO_ROLE=lockable_django_app
Cleanup() {
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $LOCKABLE_DJANGO_DB" \
        -c "DROP ROLE IF EXISTS $LOCKABLE_DJANGO_ROLE" >/dev/null 2>&1 || true
}
Cleanup
trap Cleanup EXIT

psql -X -q -v ON_ERROR_STOP=1 -d postgres \
    -c "CREATE ROLE $LOCKABLE_DJANGO_ROLE LOGIN" \
    -c "CREATE DATABASE $LOCKABLE_DJANGO_DB OWNER $LOCKABLE_DJANGO_ROLE"
psql -X -q -v ON_ERROR_STOP=1 -d "$LOCKABLE_DJANGO_DB" \
    -c "CREATE EXTENSION lockable" \
    -c "REVOKE CREATE ON SCHEMA public FROM PUBLIC" \
    -c "ALTER SCHEMA public OWNER TO $LOCKABLE_DJANGO_ROLE"

# Debian's interpreter, where apt installed the packages; no bytecode files
# left in the source tree.
export PYTHONDONTWRITEBYTECODE=1
/usr/bin/python3 test/django/check_triggers.py
