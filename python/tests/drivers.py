"""The PostgreSQL drivers this interpreter has, for the tests' own
connections: psycopg2, psycopg 3, or both (a cell of the matrix may have
one only; Django itself uses psycopg 3 when it is installed, from 4.2).

``sql`` is the driver's ``sql`` module (the two are alike) for the
superuser's statements; ``connect`` opens an autocommit connection with
either, psycopg2 first.
"""
from typing import Any, Dict

try:
    import psycopg
except ImportError:  # a psycopg2 cell
    psycopg = None  # type: ignore[assignment]
try:
    import psycopg2
    import psycopg2.extensions
except ImportError:  # a psycopg 3 cell
    psycopg2 = None  # type: ignore[assignment]

if psycopg2 is None and psycopg is None:
    raise ImportError("the tests need psycopg2 or psycopg 3")

sql: Any
if psycopg2 is not None:
    import psycopg2.sql

    sql = psycopg2.sql
else:
    import psycopg.sql

    sql = psycopg.sql


def connect(params: Dict[str, str]) -> Any:
    """An autocommit connection with the first driver there is."""
    if psycopg2 is not None:
        conn = psycopg2.connect(**params)
        conn.autocommit = True
        return conn
    return psycopg.connect(**params, autocommit=True)


def is_psycopg2(conn: Any) -> bool:
    return psycopg2 is not None and isinstance(conn, psycopg2.extensions.connection)
