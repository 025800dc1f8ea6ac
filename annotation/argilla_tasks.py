"""Argilla bridge tasks: push a queue on demand, pull every pushed queue on a schedule.

Both are idempotent (records keep their portal ids in Argilla; answers are
keyed on (record, annotator); a record already removed is not found again),
so a redelivered message only repeats work that changes nothing:
``acks_late`` is on. The service is imported inside each task so that
processes which never run them do not load the SDK.
"""

import logging

from celery import shared_task

from .services.argilla_requests import ARGILLA_PULL_TASK, ARGILLA_PUSH_TASK

log = logging.getLogger(__name__)
# No automatic retries: the next scheduled pull, or pushing again, is the retry.
OPTIONS = {"acks_late": True}


@shared_task(name=ARGILLA_PUSH_TASK, soft_time_limit=1800, time_limit=1860, **OPTIONS)
def argilla_push_queue(queue_id: int, user_id: int | None = None) -> dict:
    """Push one queue; ``user_id``: the admin who asked, whose queue history gets the counts."""
    from .services.argilla_sync import argilla_push

    return _done("push", queue_id, user_id, argilla_push(queue_id=queue_id))


@shared_task(name=ARGILLA_PULL_TASK, soft_time_limit=1800, time_limit=1860, **OPTIONS)
def argilla_pull_queue(queue_id: int, user_id: int | None = None) -> dict:
    """Pull one queue; ``user_id`` as for a push (none for the scheduled pull)."""
    from .services.argilla_sync import argilla_pull

    return _done("pull", queue_id, user_id, argilla_pull(queue_id=queue_id))


def _done(what, queue_id, user_id, result) -> dict:
    from .services.argilla_sync import argilla_sync_log

    if user_id is not None:
        argilla_sync_log(queue_id=queue_id, user_id=user_id, result=result)
    log.info("Argilla %s of queue %s: %s", what, queue_id, result.as_dict())
    return result.as_dict()


@shared_task(name="annotation.argilla_tasks.argilla_pull_all", soft_time_limit=300, time_limit=360, acks_late=True)
def argilla_pull_all() -> list[int]:
    """For beat: one pull task per active queue that has an Argilla dataset; nothing when unconfigured."""
    from .services.argilla_sync import argilla_configured, argilla_queue_ids

    if not argilla_configured():
        return []
    queue_ids = argilla_queue_ids()
    for queue_id in queue_ids:
        argilla_pull_queue.delay(queue_id)
    return queue_ids


@shared_task(name="annotation.argilla_tasks.argilla_push_sweep", time_limit=120)
def argilla_push_sweep() -> int:
    """For beat: send again the admin's pushes the broker never took (services/argilla_requests.py)."""
    from .services.argilla_requests import argilla_push_sweep as sweep

    return sweep()
