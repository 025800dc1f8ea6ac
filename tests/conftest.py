"""Actors, data factories and a real Celery worker for the tests."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from celery import Celery
from celery._state import get_current_app
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from occiportal.eu_languages import EU_LANGUAGES
from occiportal.models import Language, Partner, PartnerMembership
from training.jobs.contract import EVENTS_QUEUE, GPU_QUEUE

PASSWORD = "correct-horse-battery-staple"
# The GPU worker thread consumes this between tests: nothing is ever sent to it.
GPU_PARKED_QUEUE = "gpu-parked"


def make_user(username, *, staff=False, partner=None):
    user = get_user_model().objects.create_user(
        username, f"{username}@example.org", PASSWORD, is_staff=staff, is_superuser=staff
    )
    if partner is not None:
        PartnerMembership.objects.create(partner=partner, user=user)
    return user


@pytest.fixture
def partner_a(db):
    return Partner.objects.create(slug="alpha", name="Alpha Archive")


@pytest.fixture
def partner_b(db):
    return Partner.objects.create(slug="beta", name="Beta Bibliotheek")


@pytest.fixture
def member_a(partner_a):
    return make_user("anna", partner=partner_a)


@pytest.fixture
def member_b(partner_b):
    return make_user("bert", partner=partner_b)


@pytest.fixture
def staff(db):
    return make_user("sam", staff=True)


def language(code):
    """A seeded EU language; transactional tests flush the seed, so re-create it."""
    code, name_en, name_native = next(entry for entry in EU_LANGUAGES if entry[0] == code)
    return Language.objects.get_or_create(
        code=code, defaults={"name_en": name_en, "name_native": name_native, "is_eu_official": True}
    )[0]


@pytest.fixture
def german(db):
    return language("de")


@pytest.fixture
def french(db):
    return language("fr")


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.UPLOAD_INCOMING_DIR = tmp_path / "media" / "incoming"
    settings.NEAR_DUPLICATE_INDEX_DIR = tmp_path / "near-duplicate-index"


@pytest.fixture
def upload():
    """Build an uploaded file from text or bytes."""

    def build(content, name="data.jsonl"):
        data = content.encode("utf-8") if isinstance(content, str) else content
        return SimpleUploadedFile(name, data)

    return build


@pytest.fixture(scope="session")
def celery_worker_session():
    """A real Celery worker thread consuming the real (Redis) broker."""
    from celery.contrib.testing.worker import start_worker

    from occiportal.celery import app

    app.control.purge()
    with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, queues=["default"], shutdown_timeout=30) as worker:
        yield worker


@pytest.fixture(scope="session")
def gpu_worker_session():
    """A second worker thread: the GPU worker's own Django-free app, as in production, parked on a queue nobody sends to.

    Session-scoped, like the ``default`` worker: stopping an embedded worker
    sets a process-wide flag that stops every worker thread. So it must not
    consume ``gpu`` for the whole session, or it would run the job of any
    later test's run that should stay queued: it consumes ``gpu`` only while a
    test holds ``gpu_worker``. It polls the broker itself (no event loop):
    kombu's event loop is one per process and the ``default`` worker already drives it.
    """
    from celery.concurrency.thread import TaskPool
    from celery.contrib.testing.worker import TestWorkController, start_worker

    from occiportal.celery import app as portal_app
    from training.gpu_worker import app

    class PollingWorker(TestWorkController):
        def should_use_eventloop(self):
            return False

    class GpuAppPool(TaskPool):
        """Its threads run tasks through the GPU app.

        A pool thread looks the task up by name in the thread's current app,
        else the process's default one: the portal's, set again below, which
        has no ``run_job``; the message would be acked and the KeyError lost
        in the pool's future, leaving the job queued.
        """

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.executor = ThreadPoolExecutor(max_workers=self.limit, initializer=app.set_current)

    with start_worker(
        app, pool=GpuAppPool, concurrency=1, perform_ping_check=False, queues=[GPU_PARKED_QUEUE], shutdown_timeout=30,
        hostname="gpu@tests", WorkController=PollingWorker,
    ) as worker:  # fmt: skip
        # Starting a worker makes its app the current one; the portal's code sends through the portal's.
        portal_app.set_current()
        portal_app.set_default()
        yield worker


@pytest.fixture
def gpu_worker(celery_worker, gpu_worker_session):
    """The GPU worker, consuming ``gpu`` for this test only; jobs earlier tests left there are dropped first."""
    with gpu_queue_consumed(gpu_worker_session):
        yield gpu_worker_session


@contextmanager
def gpu_queue_consumed(worker):
    """``worker`` consumes ``gpu`` inside the block; after it, nothing it took is still running or waiting to run.

    On the way out the ``gpu`` queue is emptied and both workers are waited
    for, events on ``default`` included, so no job outlives the test that sent it.
    """
    queue_purge(GPU_QUEUE)
    in_worker_thread(worker, lambda: worker.consumer.add_task_queue(GPU_QUEUE))
    try:
        yield worker
    finally:
        in_worker_thread(worker, lambda: worker.consumer.cancel_task_queue(GPU_QUEUE))
        queue_purge(GPU_QUEUE)
        wait_for(workers_idle, timeout=120)


def in_worker_thread(worker, operation, timeout=30):
    """Run ``operation`` in the worker's own thread, between two polls of the broker, and wait for it.

    The consumer's broker channel is not thread-safe: a queue is added or
    cancelled where the worker polls, as its remote-control commands do.
    """
    done, failed = threading.Event(), []

    def run():
        try:
            operation()
        except Exception as error:  # noqa: BLE001 - raised again in the test's thread
            failed.append(error)
        finally:
            done.set()

    worker.consumer.call_soon(run)
    assert done.wait(timeout), f"the worker did not run {operation} within {timeout}s"
    if failed:
        raise failed[0]


def queue_purge(name):
    from occiportal.celery import app

    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(name)


def queue_length(name):
    """Messages waiting in a queue; the ones a worker took are not counted."""
    from occiportal.celery import app

    with app.connection_for_write() as connection:
        return connection.default_channel.queue_declare(name).message_count


def workers_idle():
    """No task running or waiting in either worker thread, and none waiting on ``default``.

    Asked twice, a moment apart: a message a worker has just taken becomes its request a moment later.
    """
    from celery.worker import state

    def quiet():
        return not state.active_requests and not state.reserved_requests and not queue_length(EVENTS_QUEUE)

    if not quiet():
        return False
    time.sleep(0.2)
    return quiet()


@contextmanager
def broker_unreachable():
    """This thread's current Celery app points at a closed port, as when the web process cannot reach the broker.

    Only this thread's: a worker thread keeps consuming the real broker.
    """
    real = get_current_app()
    away = Celery("away", set_as_current=False)
    # The write URL: CELERY_BROKER_URL in the environment overrides any broker_url.
    away.conf.update(
        broker_write_url="redis://127.0.0.1:1/0", broker_connection_retry=False, broker_connection_timeout=1,
        task_publish_retry=False,
    )  # fmt: skip
    away.set_current()
    try:
        yield away
    finally:
        real.set_current()


@pytest.fixture
def broker_away():
    with broker_unreachable() as away:
        yield away


@pytest.fixture
def celery_worker(transactional_db, celery_worker_session, settings, tmp_path):
    # The worker thread reads files through the same settings object.
    return celery_worker_session


def wait_for(predicate, timeout=60, interval=0.1):
    """Poll until ``predicate()`` is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")
