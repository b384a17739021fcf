"""Celery app: configured from Django settings (CELERY_* names), tasks autodiscovered."""
from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cldweb.settings")

app = Celery("cldweb")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The name cldweb.tasks.run_distillation is registered under. Run.enqueue sends the task by this
# name, so the models never import the tasks module (which imports the models).
RUN_DISTILLATION_TASK = "cldweb.run_distillation"
