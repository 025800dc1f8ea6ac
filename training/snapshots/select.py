"""Which records a snapshot takes, as one selection per language, streamed in a fixed order.

Near-duplicate clusters are reduced in SQL: a record is left out when the
record ingest marked it a near-duplicate of (its oldest match), or an
earlier record marked a near-duplicate of the same one, passes the filters.
So when the original was rejected, one accepted near-duplicate still stands
for it. Reviewers' edits then take their originals' places (see edits.py).
The stream walks the primary key in order, so PostgreSQL never sorts the
rows themselves.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from django.contrib.postgres.fields import ArrayField
from django.db import connections, transaction
from django.db.models import (
    Avg, BigIntegerField, BooleanField, Count, Exists, F, FloatField, Func, OuterRef, Q, QuerySet, Subquery, Sum,
    TextField, Value,
)
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast, Coalesce
from psycopg import pq
from psycopg.adapt import Loader

from annotation.models import Annotation, Record, Submission
from annotation.selectors import written_pairs
from training.models import Withdrawal

from . import edits
from .texts import ChunkTexts

STREAM_FIELDS = ("id", "submission_id", "kind", "content_hash", "tokens", "cluster")
# The content columns each kind fills. They are taken out of the jsonb in
# SQL: decoding whole documents in Python cost more than the rest of a row.
CONTENT_FIELDS = {
    "pretraining": ("text",),
    "instruction": ("system", "prompt", "response"),
    "conversation": ("messages",),
    "evaluation": ("question", "choices", "answer"),
    # TRL's layout; a prompt may be a list of turns and a ranking's "rejected" a list (schemas._preference).
    "preference": ("prompt", "chosen", "rejected"),
}
# JSON text from SQL, decoded where present; a string "prompt" decodes to itself.
_NESTED = ("messages", "choices", "prompt", "rejected")
CHUNK = 2_000
_CURSORS = itertools.count()


@dataclass(frozen=True)
class Selection:
    """The records of one language a snapshot takes, and whom the edits among them are credited to."""

    qs: QuerySet
    credit: dict[int, int] = field(default_factory=dict)  # chosen edit's id → its original's submission id
    # chosen edit's id → its original's content hash: an edit is placed (split,
    # copies) where its original would be, so a correction of a test record
    # never lands in training, in this version or a later one.
    placement: dict[int, str] = field(default_factory=dict)
    # written pair's id → the submission of the preference record it was written for: the pair holds that
    # record's prompt and best response, so it is credited there too (licences, lineage), and leaves with it.
    sources: dict[int, int] = field(default_factory=dict)


def planner_settings() -> None:
    """For the rest of the current transaction: no JIT compilation."""
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # The snapshot queries' cost estimates are far off (NOT IN subplans), so
            # PostgreSQL compiled them: three seconds of a licence check at 200,000 records.
            cursor.execute("SET LOCAL jit = off")


def records_for(params: dict, language: str, kinds: list[str] | None = None) -> Selection:
    """The records of one language that pass the snapshot's filters (evaluation items included)."""
    kinds = kinds or params["kinds"]
    # Pairs written in review are people's work, so they are few and their ids travel.
    written = {}
    if "preference" in kinds:
        written = dict(written_pairs().filter(language__code=language).order_by().values_list("id", "source"))
    qs = _filtered(params, language, kinds)
    if params["reduce_near_duplicates"] and written:
        # A written pair shares its source's prompt and best response: a near-duplicate by design. It is
        # kept, and stands in for no other record.
        written_ids = _id_in(qs.db, list(written))
        qs = qs.exclude(_stood_in_for(_filtered(params, language, kinds).exclude(written_ids)) & ~written_ids)
    elif params["reduce_near_duplicates"]:
        qs = qs.exclude(_stood_in_for(_filtered(params, language, kinds)))
    selection = _with_edits(qs, language)
    return _with_written_pairs(selection, written) if written else selection


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
    qs = _standing(
        Record.objects.filter(language__code=language, kind__in=kinds or params["kinds"], status__in=params["statuses"])
    ).annotate(cluster=Coalesce("near_duplicate_of_id", "id"))
    if params["drop_language_mismatch"]:
        qs = qs.filter(language_mismatch=False)
    if params["drop_pii_redacted"]:
        qs = qs.filter(pii_redactions=0)
    for signal, bound in params["min_quality"].items():
        qs = qs.filter(**{f"quality_{signal}__gte": bound})
    for signal, bound in params["max_quality"].items():
        qs = qs.filter(**{f"quality_{signal}__lte": bound})
    if params["drop_flagged"]:
        # NOT IN a (small, hashed) set keeps the primary-key walk; a NOT EXISTS
        # became a merge anti-join that sorted every row first.
        flagged = Annotation.objects.filter(action="flag").values("record_id")
        qs = qs.exclude(pk__in=Subquery(flagged))
    if params["min_rating"]:
        qs = _with_min_rating(qs, **params["min_rating"])
    if "preference" in (kinds or params["kinds"]):
        # Reviewers who agreed on a tie, both bad or a flag found no preference to learn: never a pair.
        qs = qs.exclude(kind="preference", status=Record.Status.REJECTED)
    return qs


def _standing(records):
    """Records not withdrawn, whatever the statuses say."""
    # The withdrawal rows too: a partner's wish must outlive any later status change.
    whole = Withdrawal.objects.filter(record__isnull=True).values("submission_id")
    single = Withdrawal.objects.filter(record__isnull=False).values("record_id")
    return (
        records.exclude(status=Record.Status.WITHDRAWN)
        .exclude(submission_id__in=Subquery(whole))
        .exclude(pk__in=Subquery(single))
    )


def _with_min_rating(qs, *, scale: str, value: float):
    """Records whose reviewers' mean rating on ``scale`` reaches ``value``; unrated ones drop out."""
    mean = (
        Annotation.objects.filter(record=OuterRef("pk"), ratings__has_key=scale)
        .annotate(score=Cast(KeyTextTransform(scale, "ratings"), FloatField()))
        .values("record")
        .annotate(mean=Avg("score"))
        .values("mean")
    )
    return qs.annotate(mean_rating=Subquery(mean)).filter(mean_rating__gte=value)


def _with_edits(qs, language: str) -> Selection:
    """``qs`` with reviewers' edits in their originals' places (see edits.py)."""
    # Edits are few (people write them), so their ids travel; the records never do.
    # An edit has its original's language, so the chains stay within one.
    edited = Record.objects.filter(edit_of__isnull=False, language__code=language)
    links = dict(edited.order_by().values_list("id", "edit_of_id"))
    if not links:
        return Selection(qs)
    passing = set(qs.filter(_id_in(qs.db, list(links))).order_by().values_list("id", flat=True))
    ancestors = {a for e in passing for a in edits.ancestors(e, links)}
    chains = _standing(Record.objects.filter(_id_in(qs.db, sorted(ancestors))))
    rows = chains.order_by().values_list("id", "submission_id", "content_hash")
    standing, hashes = {}, {}
    for record_id, submission_id, content_hash in rows:
        standing[record_id], hashes[record_id] = submission_id, content_hash.hex
    skip, credit = edits.choose(links, passing, standing)
    placement = {edit: hashes[edits.ancestors(edit, links)[-1]] for edit in credit}
    return Selection(qs.exclude(_id_in(qs.db, sorted(skip))) if skip else qs, credit, placement)


def _with_written_pairs(selection: Selection, links: dict[int, int]) -> Selection:
    """``selection`` without the written pairs whose source record was withdrawn; the others' sources noted.

    ``links``: written pair's id → its source record's id (``written_pairs``).
    """
    qs = selection.qs
    taken = set(qs.filter(_id_in(qs.db, list(links))).order_by().values_list("id", flat=True))
    sources = _standing(Record.objects.filter(_id_in(qs.db, sorted({links[i] for i in taken}))))
    standing = dict(sources.order_by().values_list("id", "submission_id"))
    gone = sorted(i for i in taken if links[i] not in standing)
    kept = {i: standing[links[i]] for i in taken if links[i] in standing}
    return replace(selection, qs=qs.exclude(_id_in(qs.db, gone)) if gone else qs, sources=kept)


def _id_in(alias: str, ids: list[int]) -> Q:
    """``id IN ids`` as one array parameter on PostgreSQL: a list of parameters stops at 65,535."""
    if connections[alias].vendor != "postgresql":
        return Q(pk__in=ids)
    array = Value(ids, output_field=ArrayField(BigIntegerField()))
    return Q(Func(F("pk"), array, template="%(expressions)s)", arg_joiner=" = ANY(", output_field=BooleanField()))


def stream(selection: Selection, kinds: list[str]) -> Iterator[dict[str, list]]:
    """Batches of up to ``CHUNK`` records in primary-key order, as columns: ``STREAM_FIELDS`` and content fields.

    Must run inside a transaction on PostgreSQL, where rows come from a
    server-side cursor straight through psycopg: Django's per-row
    conversions cost a third of the build at a million records. An edit's
    ``submission_id`` and ``content_hash`` (which places it) are its original's.
    """
    content = list(dict.fromkeys(name for kind in kinds for name in CONTENT_FIELDS[kind]))  # "prompt" is shared
    qs = selection.qs.annotate(**{f"content_{name}": _extract(name) for name in content}).order_by("id")
    rows = qs.values_list(*STREAM_FIELDS, "line", *(f"content_{name}" for name in content))
    names = (*STREAM_FIELDS, "line", *content)
    # Pretraining text not copied in for review is in the chunk files, found by (submission, line).
    chunk_texts = ChunkTexts() if "text" in content else None
    for batch in _fetch(rows):
        columns = dict(zip(names, map(list, zip(*batch))))
        if columns["content_hash"] and not isinstance(columns["content_hash"][0], str):  # not PostgreSQL's cursor
            columns["content_hash"] = [h.hex for h in columns["content_hash"]]
        if chunk_texts is not None:
            chunk_texts.fill(columns)
        del columns["line"]
        for name in _NESTED:
            if name in columns:
                columns[name] = [None if v is None else json.loads(v) for v in columns[name]]
        if selection.credit:
            credit, placement = selection.credit, selection.placement
            columns["submission_id"] = [credit.get(i, s) for i, s in zip(columns["id"], columns["submission_id"])]
            columns["content_hash"] = [placement.get(i, h) for i, h in zip(columns["id"], columns["content_hash"])]
        yield columns


class _JSONText(Func):
    """A content key as JSON text on every database: SQLite's JSON_EXTRACT gives a string unquoted."""

    output_field = TextField()

    def __init__(self, name: str):
        super().__init__(KeyTransform(name, "content"))

    def as_sql(self, compiler, connection, **extra):
        return compiler.compile(Cast(self.source_expressions[0], TextField()))

    def as_sqlite(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"JSON_QUOTE({sql})", params  # a no-op on arrays and objects, which keep their JSON subtype


def _extract(name: str):
    if name in _NESTED:
        return _JSONText(name)
    if name == "answer":
        return Cast(KeyTextTransform(name, "content"), BigIntegerField())
    return KeyTextTransform(name, "content")


def _fetch(rows) -> Iterator[list[tuple]]:
    connection = connections[rows.db]
    if not connection.in_atomic_block or connection.vendor != "postgresql":
        # Outside a transaction PostgreSQL would materialise the whole result (WITH HOLD) first.
        iterator = rows.iterator(chunk_size=CHUNK)
        while batch := list(itertools.islice(iterator, CHUNK)):
            yield batch
        return
    sql, sql_params = rows.query.sql_with_params()
    connection.ensure_connection()
    with connection.connection.cursor(name=f"snapshot_stream_{next(_CURSORS)}", binary=True) as cursor:
        cursor.adapters.register_loader("uuid", _HexLoader)
        cursor.execute(sql, sql_params)
        while batch := cursor.fetchmany(CHUNK):
            yield batch


class _HexLoader(Loader):
    """A binary uuid as its 32 hex digits: no UUID object made per row only to be spelled out."""

    format = pq.Format.BINARY

    def load(self, data) -> str:
        return bytes(data).hex()


def content_of(columns: dict[str, list], kind: str, i: int) -> dict:
    """Row ``i``'s content as the record holds it (keys it lacks are absent), for ``text_fields``."""
    return {name: columns[name][i] for name in CONTENT_FIELDS[kind] if columns[name][i] is not None}


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


def license_rows(selection: Selection) -> list[dict]:
    """Per submission credited: partner and licence, with the records and tokens the filters let through."""
    qs, credit = selection.qs, selection.credit
    own = qs.exclude(_id_in(qs.db, list(credit))) if credit else qs
    # Grouped by the submission alone, no join and no order: at a million
    # records the partner join and its sort took half the check.
    totals: dict = defaultdict(lambda: {"records": 0, "tokens": 0})
    for submission, records, tokens in own.order_by().values_list("submission_id").annotate(Count("id"), Sum("tokens")):
        totals[submission] = {"records": records, "tokens": tokens}
    if credit:
        for record_id, tokens in qs.filter(_id_in(qs.db, list(credit))).order_by().values_list("id", "tokens"):
            totals[credit[record_id]]["records"] += 1
            totals[credit[record_id]]["tokens"] += tokens
    # A written pair counts under its writer's submission and its source's: both licences apply to it.
    sources = selection.sources
    written = qs.filter(_id_in(qs.db, list(sources))).order_by().values_list("id", "tokens") if sources else []
    for record_id, tokens in written:
        totals[sources[record_id]]["records"] += 1
        totals[sources[record_id]]["tokens"] += tokens
    submissions = Submission.objects.filter(pk__in=list(totals)).values_list("id", "partner__slug", "license")
    return [
        {"submission_id": pk, "partner_slug": slug, "license": spdx, **totals[pk]}
        for pk, slug, spdx in sorted(submissions)
    ]
