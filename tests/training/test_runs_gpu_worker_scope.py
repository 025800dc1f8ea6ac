"""The GPU worker thread lives for the whole session but consumes ``gpu`` only while a test holds ``gpu_worker``.

A run committed by any other test stays queued, whichever tests ran before it.
"""

import time

import pytest

from tests.conftest import gpu_queue_consumed, queue_length, wait_for
from training.jobs.contract import GPU_QUEUE, RUN_JOB_TASK
from training.models import TrainingRun

from .run_helpers import make_run

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def send_unreadable_job():
    """A job the GPU worker refuses at once (it logs it; no run to tell): proof that it took the message."""
    from occiportal.celery import app

    app.send_task(RUN_JOB_TASK, args=["not a job spec"], queue=GPU_QUEUE)


def test_the_gpu_worker_fixture_consumes_the_gpu_queue(gpu_worker):
    assert gpu_worker.consumer.task_consumer.consuming_from(GPU_QUEUE)
    send_unreadable_job()
    wait_for(lambda: not queue_length(GPU_QUEUE), timeout=30)


def test_a_run_committed_after_a_test_held_the_gpu_worker_stays_queued(celery_worker, gpu_worker_session, staff):
    with gpu_queue_consumed(gpu_worker_session):  # what the gpu_worker fixture does around a test
        send_unreadable_job()
        wait_for(lambda: not queue_length(GPU_QUEUE), timeout=30)

    run = make_run(user=staff)  # its job is sent to ``gpu`` as the transaction commits
    time.sleep(5)  # the worker polls the broker every second or two

    assert not gpu_worker_session.consumer.task_consumer.consuming_from(GPU_QUEUE)
    assert queue_length(GPU_QUEUE) == 1
    assert TrainingRun.objects.get(pk=run.pk).status == TrainingRun.Status.QUEUED
