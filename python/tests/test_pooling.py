"""Through PgBouncer in transaction mode (LOCKABLE_TEST_POOLED=1): the rest
of the suite runs unchanged; this test shows that the pooling is real."""
import pytest
from django.db import connection


@pytest.mark.pooled_only
@pytest.mark.django_db(transaction=True)
def test_one_django_connection_runs_on_several_server_sessions():
    backends = set()
    for _ in range(12):  # autocommit: each statement its own transaction
        with connection.cursor() as cur:
            cur.execute("SELECT pg_catalog.pg_backend_pid()")
            backends.add(cur.fetchone()[0])
    print(f"12 statements of one Django connection ran on {len(backends)} server sessions")
    assert len(backends) > 1
