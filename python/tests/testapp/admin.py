from django.contrib import admin

from django_lockable.admin import LockableAdmin

from .models import Document


@admin.register(Document)
class DocumentAdmin(LockableAdmin, admin.ModelAdmin):
    list_display = ["title"]
