"""Which records a snapshot takes, as one queryset per language, streamed in a fixed order.

Near-duplicate clusters are reduced in SQL: a record is left out when the
record ingest marked it a near-duplicate of (its oldest match), or an
earlier record marked a near-duplicate of the same one, passes the filters.
So when the original was rejected, one accepted near-duplicate still stands
for it. The stream walks the primary key in order, so PostgreSQL never sorts
the rows themselves.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

from django.db import connections
from django.db.models import Avg, Count, Exists, F, FloatField, OuterRef, Q, Subquery, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce

from annotation.models import Record
from training.models import Withdrawal

STREAM_FIELDS = ("id", "submission_id", "kind", "content", "content_hash", "tokens", "cluster")
CHUNK = 2_000
_CURSORS = itertools.count()


def records_for(params: dict, language: str, kinds: list[str] | None = None):
    """The records of one language that pass the snapshot's filters (evaluation items included)."""
    qs = _filtered(params, language, kinds)
    if params["reduce_near_duplicates"]:
        qs = qs.exclude(_stood_in_for(_filtered(params, language, kinds)))
    return qs


def _stood_in_for(passing):
    """A near-duplicate whose original, or an earlier duplicate of the same original, passes too.

    A record marked a duplicate of nothing always stands for itself. Both
    lookups go through indexes (primary key, near_duplicate_of) and run
    only for duplicates, so the stream walks the primary key with no sort.
    """
    root_passes = Exists(passing.filter(pk=OuterRef("near_duplicate_of_id")))
    earlier_member_passes = Exists(
        passing.filter(near_duplicate_of_id=OuterRef("near_duplicate_of_id"), pk__lt=OuterRef("pk"))
    )
    return Q(near_duplicate_of__isnull=False) & (root_passes | earlier_member_passes)


def _filtered(params: dict, language: str, kinds: list[str] | None):
    qs = (
        Record.objects.filter(language__code=language, kind__in=kinds or params["kinds"], status__in=params["statuses"])
        .exclude(status=Record.Status.WITHDRAWN)  # whatever the statuses say
        .annotate(cluster=Coalesce("near_duplicate_of_id", "id"))
    )
    # The withdrawal rows too: a partner's wish must outlive any later status change.
    whole = Withdrawal.objects.filter(record__isnull=True).values("submission_id")
    single = Withdrawal.objects.filter(record__isnull=False).values("record_id")
    qs = qs.exclude(submission_id__in=Subquery(whole)).exclude(pk__in=Subquery(single))
    if params["drop_language_mismatch"]:
        qs = qs.filter(language_mismatch=False)
    if params["drop_pii_redacted"]:
        qs = qs.filter(pii_redactions=0)
    for signal, bound in params["min_quality"].items():
        qs = qs.filter(**{f"quality__{signal}__gte": bound})
    for signal, bound in params["max_quality"].items():
        qs = qs.filter(**{f"quality__{signal}__lte": bound})
    if params["drop_flagged"]:
        # NOT IN a (small, hashed) set keeps the primary-key walk; a NOT EXISTS
        # became a merge anti-join that sorted every row first.
        flagged = Record.annotations.rel.related_model.objects.filter(action="flag").values("record_id")
        qs = qs.exclude(pk__in=Subquery(flagged))
    if params["min_rating"]:
        qs = _with_min_rating(qs, **params["min_rating"])
    return qs


def _with_min_rating(qs, *, scale: str, value: float):
    """Records whose reviewers' mean rating on ``scale`` reaches ``value``; unrated ones drop out."""
    from annotation.models import Annotation

    mean = (
        Annotation.objects.filter(record=OuterRef("pk"), ratings__has_key=scale)
        .annotate(score=Cast(KeyTextTransform(scale, "ratings"), FloatField()))
        .values("record")
        .annotate(mean=Avg("score"))
        .values("mean")
    )
    return qs.annotate(mean_rating=Subquery(mean)).filter(mean_rating__gte=value)


def stream(qs) -> Iterator[dict]:
    """Rows as dicts in primary-key order, fetched ``CHUNK`` at a time from a server-side cursor.

    Must run inside a transaction. The queryset only writes the SQL: rows
    come straight from psycopg, which costs a third of Django's per-row
    conversions at a million records.
    """
    connection = connections[qs.db]
    if not connection.in_atomic_block or connection.vendor != "postgresql":
        yield from qs.order_by("id").values(*STREAM_FIELDS).iterator(chunk_size=CHUNK)
        return
    sql, sql_params = qs.order_by("id").values_list(*STREAM_FIELDS).query.sql_with_params()
    connection.ensure_connection()
    with connection.connection.cursor(name=f"snapshot_stream_{next(_CURSORS)}") as cursor:
        cursor.itersize = CHUNK
        cursor.execute(sql, sql_params)
        for row in cursor:
            record = dict(zip(STREAM_FIELDS, row))
            if isinstance(record["content"], str):  # Django has psycopg hand jsonb over as text
                record["content"] = json.loads(record["content"])
            yield record


def cluster_sizes(language: str) -> dict[int, int]:
    """Size of every near-duplicate cluster of more than one record, by its key.

    Only clusters with duplicates are kept, so this stays far smaller than
    the records themselves.
    """
    rows = (
        Record.objects.filter(language__code=language, near_duplicate_of__isnull=False)
        .values("near_duplicate_of_id")
        .annotate(n=Count("id"))
        .values_list("near_duplicate_of_id", "n")
    )
    return {key: n + 1 for key, n in rows}


def licence_rows(qs):
    """Per submission: partner and licence, with the records and tokens the filters let through."""
    return list(
        qs.values("submission_id", partner_slug=F("submission__partner__slug"), license=F("submission__license"))
        .annotate(records=Count("id"), tokens=Sum("tokens"))
        .order_by("submission_id")
    )
