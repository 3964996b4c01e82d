from django.contrib import admin
from django.urls import include, path
from rest_framework.routers import DefaultRouter

from tests.testapp import views

router = DefaultRouter()
router.register("documents", views.DocumentViewSet)
router.register("naive-documents", views.NaiveDocumentViewSet, basename="naive-document")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("django_lockable.urls")),
    path("api-basic/lock/<path:uid>/", views.BasicAuthLockView.as_view()),
    path("api/", include(router.urls)),
    path("mutex/<path:uid>/", views.mutex_lock),
    path("mutex-async/<path:uid>/", views.mutex_async),
    path("own-take-over/<path:uid>/", views.own_take_over),
    path("raw/<int:pk>/", views.raw_update),
    path("raw-stale/<int:pk>/", views.raw_stale_update),
]
