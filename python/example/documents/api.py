"""Saves: PUT /api/documents/<pk>/ with the version the page read.

LockEnforcedMixin writes as the request's user (and with the fencing token
the page sends in Lockable-Token), so enforce_lock refuses a save from a tab
whose lock was handed on (423); VersionedModelSerializer sends the version,
so version_check refuses a save based on a stale one (409).
"""
from rest_framework import mixins, viewsets

from django_lockable.drf import LockEnforcedMixin, VersionedModelSerializer

from .models import Document


class DocumentSerializer(VersionedModelSerializer):
    class Meta:
        model = Document
        fields = ["id", "title", "body", "version"]


class DocumentViewSet(LockEnforcedMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin,
                      viewsets.GenericViewSet):
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer
