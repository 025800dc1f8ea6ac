"""Withdrawals as the request and then the worker make them, for tests that look at what follows.

The request queues the text removal and the counting on commit; a test's
transaction never commits, so these run the task's function directly, as
``snapshot_create(..., enqueue=False)`` and a direct build do for snapshots.
"""

from django.db.models import Q

from training.models import Withdrawal
from training.services.withdrawals import withdrawal_create, withdrawal_get_or_create_lines
from training.tasks import withdrawal_follow_up


def follow_up() -> list[int]:
    """Run the follow-up of every withdrawal whose text removal or counting is pending, as the worker would; their ids."""
    pending = Withdrawal.objects.filter(Q(text_pruned_at__isnull=True) | Q(snapshots_found_at__isnull=True))
    ids = list(pending.order_by("pk").values_list("pk", flat=True))
    if ids:
        withdrawal_follow_up(ids)
    return ids


def withdrawal_create_and_follow_up(**kwargs) -> Withdrawal:
    """``withdrawal_create``, then its follow-up: the text gone, the snapshots holding it counted."""
    withdrawal = withdrawal_create(**kwargs)
    follow_up()
    withdrawal.refresh_from_db()
    return withdrawal


def withdrawal_get_or_create_lines_and_follow_up(**kwargs) -> list:
    made = withdrawal_get_or_create_lines(**kwargs)
    follow_up()
    return made
