"""Argilla bridge tasks: push a queue on demand, pull every pushed queue on a schedule.

Both are idempotent (records keep their portal ids in Argilla; answers are
keyed on (record, annotator)), so a redelivered message only repeats work
that changes nothing: ``acks_late`` is on. The service is imported inside
each task so that processes which never run them do not load the SDK.
"""

import logging

from celery import shared_task

log = logging.getLogger(__name__)
# No automatic retries: the next scheduled pull, or pushing again, is the retry.
OPTIONS = {"acks_late": True}


@shared_task(name="annotation.argilla_tasks.argilla_push_queue", soft_time_limit=1800, time_limit=1860, **OPTIONS)
def argilla_push_queue(queue_id: int) -> int:
    from .services.argilla_sync import argilla_push

    return argilla_push(queue_id=queue_id)


@shared_task(name="annotation.argilla_tasks.argilla_pull_queue", soft_time_limit=1800, time_limit=1860, **OPTIONS)
def argilla_pull_queue(queue_id: int) -> dict:
    from .services.argilla_sync import argilla_pull

    result = argilla_pull(queue_id=queue_id).as_dict()
    log.info("Argilla pull of queue %s: %s", queue_id, result)
    return result


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
