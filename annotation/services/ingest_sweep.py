"""The ingest sweeper: find what went quiet, for the sweeper task to send again.

A worker killed mid-chunk leaves its message unacknowledged until the
broker's visibility timeout (an hour on Redis), and a broker that was away
when a submission was committed leaves it "received" for good. The database
says what is missing; every step is idempotent, so sending one twice is
harmless, and rows are taken with SKIP LOCKED so two sweepers at once
send each chunk once.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotation.models import IngestChunk, Submission

from .ingest import chunk_give_up


@dataclass
class SweepOrders:
    """What to send: submissions to plan, ``(chunk, submission)`` pairs to process, submissions to finish."""

    plan: list[int] = field(default_factory=list)
    chunks: list[tuple[int, int]] = field(default_factory=list)
    finish: list[int] = field(default_factory=list)
    failed: int = 0

    @property
    def count(self) -> int:
        return len(self.plan) + len(self.chunks) + len(self.finish) + self.failed


def ingest_sweep(*, now=None) -> SweepOrders:
    """Decide what to send again; chunks sent again get a fresh heartbeat and no lease.

    - "received" for RECEIVED_GRACE_SECONDS: its message never reached a worker: plan;
    - "processing" with no chunks for PLAN_STALL_SECONDS: its planner died: plan again;
    - a pending chunk silent for CHUNK_STALL_SECONDS: process it again, or, claimed
      CHUNK_MAX_ATTEMPTS times already, fail its submission naming its lines;
    - every chunk done, the submission not finished, its chunks silent for
      CHUNK_STALL_SECONDS: finish (a finish under way holds the row and is skipped).
    """
    config, now = settings.INGEST, now or timezone.now()
    stalled = now - timedelta(seconds=config["CHUNK_STALL_SECONDS"])
    orders = SweepOrders()
    _chunks_sweep(orders, stalled, now)
    processing = Submission.objects.filter(status=Submission.Status.PROCESSING)
    orders.plan = _unlocked(
        Submission.objects.filter(
            status=Submission.Status.RECEIVED,
            created_at__lt=now - timedelta(seconds=config["RECEIVED_GRACE_SECONDS"]),
        )
    ) + _unlocked(processing.filter(chunks_total=0, started_at__lt=now - timedelta(seconds=config["PLAN_STALL_SECONDS"])))
    orders.finish = _unlocked(
        processing.filter(chunks_total__gt=0, chunks_done__gte=F("chunks_total")).exclude(chunks__heartbeat_at__gte=stalled)
    )
    return orders


def _chunks_sweep(orders: SweepOrders, stalled, now) -> None:
    pending = IngestChunk.objects.filter(
        status=IngestChunk.Status.PENDING, heartbeat_at__lt=stalled, submission__status=Submission.Status.PROCESSING
    )
    with transaction.atomic():
        chunks = list(pending.select_for_update(skip_locked=True, of=("self",)).select_related("submission"))
        spent = [chunk for chunk in chunks if chunk.attempts >= settings.INGEST["CHUNK_MAX_ATTEMPTS"]]
        again = [chunk for chunk in chunks if chunk not in spent]
        IngestChunk.objects.filter(pk__in=[chunk.pk for chunk in again]).update(heartbeat_at=now, claimed_at=None)
    orders.chunks = [(chunk.pk, chunk.submission_id) for chunk in again]
    for chunk in spent:
        chunk_give_up(chunk=chunk)
    orders.failed = len(spent)


def _unlocked(submissions) -> list[int]:
    """The ids of ``submissions`` no one holds now (a step under way locks its row)."""
    with transaction.atomic():
        return list(submissions.select_for_update(skip_locked=True).values_list("pk", flat=True))
