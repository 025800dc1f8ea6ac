"""Fetch snapshots and withdrawals for a user, with the permission check.

Snapshots are staff business: anyone else gets exactly what a missing
snapshot gives, ``Http404``. (Withdrawals are listed through
``selectors.withdrawals_visible_to``; submissions go through
``annotation.access.access_submission``.)
"""

from django.http import Http404

from .models import Snapshot


def access_snapshot(user, snapshot_id) -> Snapshot:
    if not (user.is_authenticated and user.is_staff):
        raise Http404("No such snapshot.")
    try:
        return Snapshot.objects.get(pk=snapshot_id)
    except (Snapshot.DoesNotExist, ValueError, TypeError):
        raise Http404("No such snapshot.")

