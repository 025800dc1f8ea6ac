"""The per-user limit on unfinished uploads holds when one user creates many at the same instant (PostgreSQL)."""

import threading

from django.db import connection

from annotation.models import Upload
from annotation.services.uploads import MAX_OPEN_PER_USER, UploadError, upload_create
from tests.conftest import make_user

ATTEMPTS = 40


def _create(owner, barrier, made, refused, errors):
    try:
        barrier.wait()
        made.append(upload_create(owner=owner, filename="x.jsonl", length=10))
    except UploadError:
        refused.append(True)
    except Exception as error:  # reported by the test, not lost in the thread
        errors.append(error)
    finally:
        connection.close()


def test_forty_creations_at_once_stop_at_the_limit(transactional_db):
    owner = make_user("anna")
    barrier, made, refused, errors = threading.Barrier(ATTEMPTS), [], [], []
    threads = [threading.Thread(target=_create, args=(owner, barrier, made, refused, errors)) for _ in range(ATTEMPTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors
    assert Upload.objects.filter(owner=owner).count() == len(made) == MAX_OPEN_PER_USER
    assert len(refused) == ATTEMPTS - MAX_OPEN_PER_USER
