"""The example's ASGI application: pages over HTTP, the lock consumer over
websockets at /ws/lock/.

    daphne -b 127.0.0.1 -p 8000 example_site.asgi:application
"""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_site.settings")
django_asgi_app = get_asgi_application()  # sets Django up before the imports below

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.urls import path  # noqa: E402

from django_lockable.channels import CsrfOriginValidator, LockConsumer  # noqa: E402

application = ProtocolTypeRouter({
    # The example serves its own static files (lockable.js, the page's script).
    "http": ASGIStaticFilesHandler(django_asgi_app),
    # The session's user, and only the site's own pages (scheme, host and
    # port, as Django's CSRF check): no cross-site websocket hijacking.
    "websocket": CsrfOriginValidator(AuthMiddlewareStack(URLRouter([
        path("ws/lock/", LockConsumer.as_asgi()),
    ]))),
})
