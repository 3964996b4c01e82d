"""``manage.py lockable_sweep [--older-than SECONDS] [--database ALIAS]``

Deletes the rows of locks that ended (released, or expired) at least
``--older-than`` seconds ago (default 0), with ``lockable.lock_sweep``; from
lockable 1.2 it also hands expired locks on to their waiting lines.  Live
locks are never touched.  The database role needs EXECUTE on
``lockable.lock_sweep(interval)``, which is not granted to PUBLIC (from
lockable 1.4 the role ``lockable_admin`` has it).  When lockable is
preloaded, its background sweeper (``lockable.sweep_interval``) does the
same on its own.
"""
import math
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import ProgrammingError

from ... import _core, _db
from ..._conf import lockable_settings


class Command(BaseCommand):
    help = "Delete the rows of locks that ended at least --older-than seconds ago (lockable.lock_sweep)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than", type=float, default=0.0, metavar="SECONDS",
            help="only locks that ended at least this many seconds ago (default 0)",
        )
        parser.add_argument(
            "--database", default=None,
            help="database alias (default: LOCKABLE_DATABASE, itself 'default')",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        older_than = options["older_than"]
        if not math.isfinite(older_than) or older_than < 0:
            raise CommandError(f"--older-than must be a number of seconds, 0 or more, not {older_than}")
        using = options["database"] or lockable_settings.DATABASE
        try:
            swept = _core.sweep(timedelta(seconds=older_than), using=using)
        except _core.LockTimeout as exc:
            raise CommandError(f"{exc} (or run the sweep with a longer LOCKABLE_LOCK_TIMEOUT)") from exc
        except ProgrammingError as exc:
            if _db.sqlstate(exc) != "42501":
                raise
            raise CommandError(
                "the database role may not sweep: a superuser grants it with "
                "GRANT lockable_admin TO <role> (lockable 1.4), or "
                "GRANT EXECUTE ON FUNCTION lockable.lock_sweep(interval) TO <role>"
            ) from exc
        self.stdout.write(f"swept {swept} lock rows")
