"""Handing out the next item: the query every annotator runs, kept apart from the other review writes."""

import time
from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from annotation.models import Assignment, Record, ReviewQueue
from annotation.review_selectors import SAMPLE_BUCKETS, SAMPLE_MULTIPLIER, is_certified

from .record_text import record_content_fill

CLAIM_TRIES = 20
CLAIM_BACKOFF_S = 0.01


def review_item_claim(*, queue: ReviewQueue, annotator, now=None) -> Assignment | None:
    """Lease the annotator the next record, or give back the lease they hold; ``None`` when none is left.

    Safe with many annotators at once: a claimer locks one candidate record
    row (``SKIP LOCKED``, so others move on to other rows), then inserts the
    lease only if a recount, in a new statement under that lock, still finds
    a free slot. The unique (record, annotator) constraint backs up "never
    the same record twice".
    """
    if not queue.active:
        raise PermissionDenied(_("You are not certified for this queue's language."))
    params = _claim_params(queue=queue, annotator=annotator, now=now or timezone.now())
    postgres = connection.vendor == "postgresql"
    candidates = _CANDIDATES.format(sample=_SAMPLED if queue.sample_rate < 1 else "",
                                    fence="OFFSET 0" if postgres else "")
    claim = _CLAIM.format(candidates=candidates, lock="FOR NO KEY UPDATE OF r SKIP LOCKED" if postgres else "")
    certified = False  # asked once: the answer cannot change between tries
    for attempt in range(CLAIM_TRIES):
        with transaction.atomic():
            record = next(iter(Record.objects.raw(claim, params)), None)
            if record is not None:
                if record.held_id is not None:
                    return _with_record(Assignment.objects.get(pk=record.held_id), record, queue)
                # None when the slot went meanwhile, or the annotator claimed in another tab at once: try again.
                lease = next(iter(Assignment.objects.raw(_LEASE, {**params, "record": record.pk})), None)
                if lease is not None:
                    return _with_record(lease, record, queue)
                continue
        if not certified:
            if not is_certified(annotator, queue.language.code):
                raise PermissionDenied(_("You are not certified for this queue's language."))
            certified = True
        with connection.cursor() as cursor:  # none left, or all locked by other claimers for a moment?
            cursor.execute(f"SELECT EXISTS ({candidates})", params)
            if not cursor.fetchone()[0]:
                return None
        time.sleep(CLAIM_BACKOFF_S * (attempt + 1))  # the other claimers commit; their rows free up
    return None


def _claim_params(*, queue, annotator, now) -> dict:
    code = queue.language.code
    when = connection.ops.adapt_datetimefield_value  # raw SQL: SQLite stores naive UTC text
    return {
        "queue": queue.pk, "annotator": annotator.pk, "code": code, "language": queue.language_id,
        # A variant certification ("pt-BR") covers its base language's queue ("pt"), as in is_certified().
        "variants": "" if "-" in code else f"{code}-%",
        "kind": queue.kind, "overlap": queue.overlap, "now": when(now), "created": when(timezone.now()),
        "until": when(now + timedelta(minutes=queue.lease_minutes)),
        "sample": int(queue.sample_rate * SAMPLE_BUCKETS), "buckets": SAMPLE_BUCKETS, "multiplier": SAMPLE_MULTIPLIER,
    }


def _with_record(assignment, record, queue):
    record_content_fill(record=record)  # a sampled pretraining record: its text from the chunk's file
    assignment.record, assignment.queue = record, queue
    record.language = queue.language  # a queue holds records of its own language
    return assignment


# The claim in hand-written SQL: it runs on every "next item", and the ORM
# took longer to compose it than PostgreSQL to run it. It mirrors
# queue_records() and live_assignments(); test_review_queries.py holds them
# to the same records. The walk goes oldest first along the pending records'
# index (record_pending_queue_order) and stops at the first free one. The
# checks stay per row, probes by record id (OFFSET 0 keeps the planner from
# turning them into anti-joins, which read every decision of the queue on
# each claim). It runs on PostgreSQL and on SQLite, the embedded default,
# where writes are serialised anyway and the row lock and the planner fence
# are left out.
_LIVE = "a.queue_id = %(queue)s AND (a.status = 'submitted' OR (a.status = 'leased' AND a.leased_until > %(now)s))"
_SAMPLED = "AND (r.id * %(multiplier)s) %% %(buckets)s < %(sample)s"
_CANDIDATES = f"""
    SELECT r.id FROM annotation_record r JOIN annotation_submission s ON s.id = r.submission_id
    WHERE r.language_id = %(language)s AND r.kind = %(kind)s AND r.status = 'pending'
      AND (s.uploader_id IS NULL OR s.uploader_id <> %(annotator)s)  -- nobody reviews what they gave or wrote
      AND (NOT EXISTS (SELECT 1 FROM annotation_reviewqueue_submissions n WHERE n.reviewqueue_id = %(queue)s)
           OR r.submission_id IN (
               SELECT submission_id FROM annotation_reviewqueue_submissions WHERE reviewqueue_id = %(queue)s))
      AND (NOT EXISTS (SELECT 1 FROM annotation_reviewqueue_partners p WHERE p.reviewqueue_id = %(queue)s)
           OR s.partner_id IN (SELECT partner_id FROM annotation_reviewqueue_partners WHERE reviewqueue_id = %(queue)s))
      {{sample}}
      AND NOT EXISTS (
          SELECT 1 FROM annotation_reviewdecision d WHERE d.record_id = r.id AND d.queue_id = %(queue)s {{fence}})
      AND (SELECT count(*) FILTER (WHERE a.annotator_id = %(annotator)s) = 0  -- never seen by this annotator
              AND count(*) FILTER (WHERE {_LIVE}) < %(overlap)s  -- a slot free
           FROM annotation_assignment a WHERE a.record_id = r.id)"""
# The lease held, else the first free candidate, locked; its record row with held_id (null when new).
_CLAIM = """
    WITH certified AS (
        SELECT 1 FROM annotation_certification c WHERE c.user_id = %(annotator)s AND c.withdrawn_at IS NULL
          AND (c.language_code = %(code)s OR c.language_code LIKE %(variants)s)
    ), held AS (
        SELECT a.id, a.record_id FROM annotation_assignment a
        WHERE EXISTS (SELECT 1 FROM certified) AND a.queue_id = %(queue)s AND a.annotator_id = %(annotator)s
          AND a.status = 'leased' AND a.leased_until > %(now)s
        ORDER BY a.created_at DESC LIMIT 1
    ), candidate AS (
        {candidates}
          AND EXISTS (SELECT 1 FROM certified) AND NOT EXISTS (SELECT 1 FROM held)
        ORDER BY r.id LIMIT 1 {lock}
    )
    SELECT r.*, (SELECT id FROM held) AS held_id FROM annotation_record r
    WHERE r.id = COALESCE((SELECT record_id FROM held), (SELECT id FROM candidate))"""
# A new statement, so a new snapshot under the row lock: READ COMMITTED sees
# every lease committed by claimers that held this lock before us.
_LEASE = f"""
    INSERT INTO annotation_assignment (queue_id, record_id, annotator_id, status, leased_until, created_at)
    SELECT %(queue)s, %(record)s, %(annotator)s, 'leased', %(until)s, %(created)s
    WHERE (SELECT count(*) FROM annotation_assignment a WHERE a.record_id = %(record)s AND {_LIVE}) < %(overlap)s
    ON CONFLICT DO NOTHING
    RETURNING *"""
