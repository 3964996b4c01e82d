# The model of README.md's "Enforcing it in the database" section.
from django.db import models


class Order(models.Model):
    status = models.CharField(max_length=20)
    version = models.BigIntegerField(default=1, editable=False)
