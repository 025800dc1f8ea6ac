"""The Celery app and the one list of queues.

Queues:
- ``default``: portal work — ingest planning, ingest chunks, finalising
  submissions, snapshot builds, Hub pushes, the Argilla push and pull,
  recording job events, and the sweepers (ingest, runs) that beat starts
  every minute. Idempotent tasks that take ids.
- ``gpu``: training and evaluation jobs. Workers on this queue take one job
  at a time (prefetch 1) and run it as a child process.
"""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "occiportal.settings")

app = Celery("occiportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("gpu"))
app.conf.task_default_queue = "default"
app.conf.task_routes = {"training.gpu_worker.run_job": {"queue": "gpu"}}
# Task modules not named tasks.py: run events and sweeper (default), the GPU job
# (gpu), the Argilla push and pull (default).
app.conf.include = ["training.run_tasks", "training.gpu_worker", "annotation.argilla_tasks"]
app.autodiscover_tasks()
