"""The Celery app and the one list of queues.

Queues:
- ``default``: portal work — ingest planning, ingest chunks, finalising
  submissions, snapshot builds, Hub pushes, withdrawals' text removal and
  counting, the Argilla push and pull,
  recording job events, and the sweepers (ingest; runs, snapshot builds,
  Hub pushes and withdrawals' follow-ups; Argilla pushes) that beat starts every minute. Idempotent tasks that take ids.
- ``gpu``: training and evaluation jobs, served by the GPU worker's own
  Django-free app (training/gpu_worker.py), one job at a time (prefetch 1),
  each run as a child process. This app only sends to it, by task name.
"""

import os

from celery import Celery
from kombu import Queue

from training.jobs.contract import EVENTS_QUEUE, GPU_QUEUE, RUN_JOB_TASK

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "occiportal.settings")

app = Celery("occiportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue(EVENTS_QUEUE), Queue(GPU_QUEUE))
app.conf.task_default_queue = EVENTS_QUEUE
app.conf.task_routes = {RUN_JOB_TASK: {"queue": GPU_QUEUE}}
# Task modules not named tasks.py: the Argilla push and pull.
app.conf.include = ["annotation.argilla_tasks"]
app.autodiscover_tasks()
