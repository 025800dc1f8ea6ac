"""The admin's pushes to Argilla, asked for durably: the queue's row is marked until the broker took the message.

Kept apart from argilla_sync.py so that the web process, which only asks,
never loads the Argilla SDK.
"""

from django.db import transaction
from django.utils import timezone

from annotation.models import ReviewQueue
from occiportal.broker import send_marked_on_commit, send_on_commit, unsent_resend

ARGILLA_PUSH_TASK = "annotation.argilla_tasks.argilla_push_queue"
ARGILLA_PULL_TASK = "annotation.argilla_tasks.argilla_pull_queue"


def argilla_push_request(*, queue_ids: list[int], requested_by) -> int:
    """Queue a push of each of ``queue_ids`` to Argilla for ``requested_by``; how many.

    A broker that is away is logged, not raised: the queues stay marked and
    the sweeper (``argilla_push_sweep``) sends their pushes later.
    """
    now = timezone.now()
    with transaction.atomic():
        queues = list(ReviewQueue.objects.select_for_update().filter(pk__in=queue_ids))
        for queue in queues:
            queue.argilla_push_requested_by = requested_by
            _push_send(queue, now)
    return len(queues)


def argilla_pull_request(*, queue_ids: list[int], requested_by) -> None:
    """Pull each of ``queue_ids`` now; a broker that is away is logged, and the scheduled pull (every 5 minutes) is the retry."""
    for queue_id in queue_ids:
        send_on_commit(ARGILLA_PULL_TASK, args=[queue_id], kwargs={"user_id": requested_by.pk})


def argilla_push_sweep(*, now=None) -> int:
    """Send again the pushes whose message the broker never took; how many."""
    now = now or timezone.now()
    return unsent_resend(ReviewQueue.objects.all(), field="argilla_push_unsent_since", now=now,
                         send=lambda queue: _push_send(queue, now))


def _push_send(queue: ReviewQueue, now) -> None:
    queue.argilla_push_unsent_since = now
    queue.save(update_fields=["argilla_push_requested_by", "argilla_push_unsent_since"])
    send_marked_on_commit(ARGILLA_PUSH_TASK, row=queue, field="argilla_push_unsent_since", args=[queue.pk],
                          kwargs={"user_id": queue.argilla_push_requested_by_id})
