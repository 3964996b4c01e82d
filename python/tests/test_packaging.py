"""What a project without DRF, or a settings module, may import."""
import os
import subprocess
import sys
import textwrap

WITHOUT_DRF = textwrap.dedent("""
    import sys
    sys.modules["rest_framework"] = None  # any import of DRF fails
    import django_lockable  # before settings and app loading: no models imported
    status = django_lockable.LockStatus(False, "doc:1", "user:42", None, None, None)
    assert status.user_id == 42  # parsed without a user model to ask
    from django.conf import settings
    settings.configure(
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes",
                        "django.contrib.admin", "django_lockable"],
        DATABASES={"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "unused"}},
        SECRET_KEY="unused",
    )
    import django
    django.setup()
    import django_lockable.models, django_lockable.operations, django_lockable.admin
    from django.core.management import get_commands
    assert get_commands()["lockable_sweep"] == "django_lockable"
    try:
        import django_lockable.drf
    except ImportError:
        print("ok")
""")


def test_everything_but_the_drf_modules_works_without_drf():
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run([sys.executable, "-c", WITHOUT_DRF], capture_output=True, text=True, env=env)
    assert (result.returncode, result.stdout, result.stderr) == (0, "ok\n", "")
