"""Settings of the test project: the package against a real database.

The environment names the database (set up by
test/suites/80-django-package.sh, or by hand, see python/README.md):

- LOCKABLE_TEST_DB, LOCKABLE_TEST_USER: the database and the ordinary role
  that owns it, as an application connects;
- LOCKABLE_TEST_HOST, LOCKABLE_TEST_PORT: where that role connects (the
  cluster, or PgBouncer in front of it);
- LOCKABLE_TEST_POOLED=1: through PgBouncer in transaction mode;
- PGHOST, PGPORT, PGUSER: a superuser's direct connection, for the
  fixtures that end leases early or grant privileges.
"""
import os

POOLED = os.environ.get("LOCKABLE_TEST_POOLED") == "1"

SECRET_KEY = "django-lockable tests"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["testserver"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
ROOT_URLCONF = "tests.urls"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ["LOCKABLE_TEST_DB"],
        "USER": os.environ["LOCKABLE_TEST_USER"],
        "HOST": os.environ["LOCKABLE_TEST_HOST"],
        "PORT": os.environ["LOCKABLE_TEST_PORT"],
        # PgBouncer in transaction mode cannot keep a cursor across
        # transactions (Django's documented setting for it).
        "DISABLE_SERVER_SIDE_CURSORS": POOLED,
    },
    # The same database as a superuser, directly: only for the tests of
    # CreateLockableExtension, which run inside a transaction that rolls back.
    "superuser": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ["LOCKABLE_TEST_DB"],
        "USER": os.environ.get("PGUSER", "postgres"),
        "HOST": os.environ.get("PGHOST", ""),
        "PORT": os.environ.get("PGPORT", ""),
    },
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework",
    "django_lockable",
    "tests.testapp",
]
try:  # the cells of the matrix that have it (python/matrix.toml, pins "openapi")
    import drf_spectacular  # noqa: F401

    INSTALLED_APPS.append("drf_spectacular")
except ImportError:
    pass

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

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

# Fast hashing: the tests log in with real passwords many times.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

REST_FRAMEWORK = {
    "EXCEPTION_HANDLER": "django_lockable.drf.exception_handler",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
}
