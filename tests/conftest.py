"""Actors, data factories and a real Celery worker for the tests."""

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

PASSWORD = "correct-horse-battery-staple"


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
    """A second worker thread, on the ``gpu`` queue: the GPU worker's own Django-free app, as in production.

    Session-scoped, like the ``default`` worker: stopping an embedded worker
    sets a process-wide flag that stops every worker thread. It polls the
    broker itself (no event loop): kombu's event loop is one per process and
    the ``default`` worker already drives it.
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
        app, pool=GpuAppPool, concurrency=1, perform_ping_check=False, queues=["gpu"], shutdown_timeout=30,
        hostname="gpu@tests", WorkController=PollingWorker,
    ) as worker:  # fmt: skip
        # Starting a worker makes its app the current one; the portal's code sends through the portal's.
        portal_app.set_current()
        portal_app.set_default()
        yield worker


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
