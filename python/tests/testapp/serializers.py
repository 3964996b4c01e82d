from rest_framework import serializers

from django_lockable.drf import VersionedModelSerializer

from .models import Document


class DocumentSerializer(VersionedModelSerializer):
    class Meta:
        model = Document
        fields = ["id", "title", "body", "version"]


class NaiveDocumentSerializer(serializers.ModelSerializer):
    """What django-concurrency's issue #36 is about: version is read-only
    (the model field is not editable), so an update never carries it."""

    class Meta:
        model = Document
        fields = ["id", "title", "body", "version"]
