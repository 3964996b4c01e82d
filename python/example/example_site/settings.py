"""Settings of the example documents site.

The database comes from libpq's environment, as psql takes it: PGHOST,
PGPORT, PGDATABASE (default "lockable_example") and PGUSER.  A few knobs of
the example itself, for demos and tests:

- EXAMPLE_LOCK_TTL: the lease of editors' locks and places, in seconds
  (LOCKABLE_TTL; default 60);
- EXAMPLE_IDLE_TIMEOUT: seconds without input after which the editor page
  stops renewing (default 600);
- EXAMPLE_WARN_BEFORE: seconds before the lease ends at which an idle
  editor is asked "Still editing?" (default 60);
- EXAMPLE_LOCKABLE_OWNER: a dotted path for LOCKABLE_OWNER (default none:
  "user:<pk>"); the tests give a broken one to see close code 4500.
"""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("EXAMPLE_SECRET_KEY", "django-lockable example site: not a secret")
DEBUG = os.environ.get("EXAMPLE_DEBUG") == "1"
# The websocket's Origin check (django_lockable.channels.CsrfOriginValidator)
# takes the page's own origin, so a page of http://localhost:8000 connects to
# ws://localhost:8000, and no other page does (another port of the host
# included); CSRF_TRUSTED_ORIGINS, as for Django's CSRF check, adds others
# (EXAMPLE_TRUSTED_ORIGINS, comma-separated, for a demo behind a proxy).
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
CSRF_TRUSTED_ORIGINS = [origin for origin in os.environ.get("EXAMPLE_TRUSTED_ORIGINS", "").split(",") if origin]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_lockable",
    "documents",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_site.urls"
ASGI_APPLICATION = "example_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("PGDATABASE", "lockable_example"),
        "USER": os.environ.get("PGUSER", ""),
        "HOST": os.environ.get("PGHOST", ""),
        "PORT": os.environ.get("PGPORT", ""),
        # The lock consumer's database calls run in worker threads: let each
        # keep its connection rather than connect for every call.
        "CONN_MAX_AGE": 60,
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "/static/"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

REST_FRAMEWORK = {
    "EXCEPTION_HANDLER": "django_lockable.drf.exception_handler",
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}

LOCKABLE_TTL = float(os.environ.get("EXAMPLE_LOCK_TTL", "60"))
LOCKABLE_LOCK_PERMISSION = "documents.permissions.may_lock"
LOCKABLE_OWNER = os.environ.get("EXAMPLE_LOCKABLE_OWNER") or None

EXAMPLE_IDLE_TIMEOUT = float(os.environ.get("EXAMPLE_IDLE_TIMEOUT", "600"))
EXAMPLE_WARN_BEFORE = float(os.environ.get("EXAMPLE_WARN_BEFORE", "60"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_lockable": {"handlers": ["console"], "level": "INFO"}},
}
