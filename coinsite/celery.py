"""The Celery application: `celery -A coinsite worker` / `celery -A coinsite beat`.

Reliability settings live in settings.py under CELERY_* (JSON only, acks_late with
task_reject_on_worker_lost, prefetch 1, hard and soft time limits).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coinsite.settings")

app = Celery("coinsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
