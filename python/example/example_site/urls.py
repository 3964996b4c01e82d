from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.decorators.http import require_POST
from documents import api, views
from rest_framework.routers import SimpleRouter

router = SimpleRouter()
router.register("documents", api.DocumentViewSet)

urlpatterns = [
    # Log in and out only: the site sends no mail, so it has no password
    # reset (django.contrib.auth.urls would route its pages, without
    # templates: a 500). Logging out is a POST, on every Django (before 5.0
    # LogoutView also logs out on GET, which any page could make a browser
    # send).
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", require_POST(auth_views.LogoutView.as_view()), name="logout"),
    path("", views.document_list, name="document-list"),
    path("documents/<int:pk>/", views.document_editor, name="document-editor"),
    path("documents/<int:pk>/holder/", views.document_holder, name="document-holder"),
    path("api/", include(router.urls)),                     # saves: PUT /api/documents/<pk>/
    path("api/", include("django_lockable.urls")),          # the REST lock endpoint, for scripts
]
