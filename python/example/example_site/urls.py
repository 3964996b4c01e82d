from django.urls import include, path
from documents import api, views
from rest_framework.routers import SimpleRouter

router = SimpleRouter()
router.register("documents", api.DocumentViewSet)

urlpatterns = [
    path("accounts/", include("django.contrib.auth.urls")),  # login at /accounts/login/
    path("", views.document_list, name="document-list"),
    path("documents/<int:pk>/", views.document_editor, name="document-editor"),
    path("api/", include(router.urls)),                     # saves: PUT /api/documents/<pk>/
    path("api/", include("django_lockable.urls")),          # the REST lock endpoint, for scripts
]
