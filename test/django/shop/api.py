# As in README.md: SQLSTATE 40001 becomes 409 Conflict, 55P03 423 Locked.
from django.db import DatabaseError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    if isinstance(exc, DatabaseError):
        cause = exc.__cause__
        sqlstate = getattr(cause, "pgcode", None) or getattr(cause, "sqlstate", None)
        diag = getattr(cause, "diag", None)
        if sqlstate == "40001":
            return Response({"detail": "This record was changed by someone else. Reload it and try again.",
                             "table": getattr(diag, "table_name", None)}, status=409)
        if sqlstate == "55P03":
            return Response({"detail": getattr(diag, "message_primary", str(exc)),
                             "lock": getattr(diag, "message_detail", None)}, status=423)
    return drf_exception_handler(exc, context)
