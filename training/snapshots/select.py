"""Which records a snapshot takes, as one selection per language, streamed in a fixed order.

Near-duplicate clusters are reduced in SQL: a record is left out when the
record ingest marked it a near-duplicate of (its oldest match), or an
earlier record marked a near-duplicate of the same one, passes the filters.
So when the original was rejected, one accepted near-duplicate still stands
for it. Reviewers' edits then take their originals' places (see edits.py).
The stream comes in primary-key order: for a language with a large share
of the records PostgreSQL walks that index and never sorts the rows
themselves; for a small one it finds them by their language's index and
sorts them.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, nullcontext
from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
from django.contrib.postgres.fields import ArrayField
from django.db import connections, transaction
from django.db.models import (
    Avg, BigIntegerField, BooleanField, Count, Exists, F, FloatField, Func, OuterRef, Q, QuerySet, Subquery, Sum,
    TextField, Value,
)
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast, Coalesce

from annotation.models import Annotation, Record, Submission
from annotation.selectors import written_pairs
from training.models import Withdrawal

from . import edits
from .read_ahead import read_ahead
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
CHUNK = 10_000
WALK_SHARE = 0.25  # of the records: a language's stream walks the primary key (_large_share)
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
    if params["reduce_near_duplicates"]:
        # Preference pairs are not reduced: pairs that share a prompt (a written pair shares its source's
        # prompt and best response too) are near-duplicates by design, and several pairs per prompt are
        # what preference training wants. Exact copies never entered the portal.
        qs = qs.exclude(_stood_in_for(_filtered(params, language, kinds)) & ~Q(kind="preference"))
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
        flagged = Annotation.objects.filter(action="flag").order_by().values("record_id")
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
    # No ORDER BY in the subqueries (the models' ordering): with sorting off
    # (_without_sort) a sort there, however small, kept the walk from being planned.
    whole = Withdrawal.objects.filter(record__isnull=True).order_by().values("submission_id")
    single = Withdrawal.objects.filter(record__isnull=False).order_by().values("record_id")
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


def stream(selection: Selection, kinds: list[str], language: str | None = None, *,
           clusters: bool = True) -> Iterator[dict]:
    """Batches of up to ``CHUNK`` records in primary-key order, as columns: ``STREAM_FIELDS`` and content fields.

    Columns are Arrow arrays, but for ``content_hash`` (a numpy ``S32`` array
    of hex digits, for split.py) and the JSON-valued content fields
    (``_NESTED``: decoded Python lists). On PostgreSQL, inside the caller's
    transaction, the rows come as one ``COPY ... TO STDOUT`` that pyarrow's
    CSV reader turns into columns on a thread of its own (``_copy``): no
    Python object per row. An edit's ``submission_id`` and ``content_hash``
    (which places it) are its original's. ``language``, the selection's,
    lets the chunk files be looked up before the rows start to come.
    ``kinds`` are the selection's; without ``clusters`` there is no ``cluster`` column.
    """
    content = list(dict.fromkeys(name for kind in kinds for name in CONTENT_FIELDS[kind]))  # "prompt" is shared
    qs = selection.qs.annotate(**{f"content_{name}": _extract(name) for name in content}).order_by("id")
    copied = _copies(qs.db)
    hashes = "content_hash"
    if copied:  # the hash as the 32 hex digits split.py reads
        hashes = "content_hash_hex"
        qs = qs.annotate(content_hash_hex=Func(Func(F("content_hash"), function="uuid_send"), Value("hex"),
                                               function="encode", output_field=TextField()))
    # Columns the selection makes constant are not fetched: with one kind and
    # no upsampling, a fifth of the COPY's bytes and of parsing them.
    kind = kinds[0] if len(kinds) == 1 else None
    fetched = [name for name in STREAM_FIELDS if not (name == "kind" and kind or name == "cluster" and not clusters)]
    fields = [hashes if name == "content_hash" else name for name in fetched]
    rows = qs.values_list(*fields, "line", *(f"content_{name}" for name in content))
    names = (*fetched, "line", *content)
    # Pretraining text not copied in for review is in the chunk files, found by (submission, line).
    # While COPY holds the connection the chunks cannot be asked for: they are read first.
    chunk_texts = ChunkTexts(language if copied else None) if "text" in content else None

    def with_texts(columns: dict) -> dict:
        if kind:
            columns["kind"] = pa.repeat(pa.scalar(kind, pa.string()), len(columns["id"]))
        if chunk_texts is not None:
            chunk_texts.fill(columns)
        del columns["line"]
        return columns

    walk = copied and language is not None and _large_share(qs.db, language)
    for columns in _fetch(rows, names, copied, with_texts, walk=walk):
        if selection.credit:
            _credit(columns, selection)
        if "preference" in kinds:
            _place_by_prompt(columns)
        yield columns


_INTEGERS = {"id", "submission_id", "tokens", "cluster", "line", "answer"}
# Every byte's two hex digits, to spell 16-byte hashes out a batch at a time.
_HEX = np.frombuffer(b"".join(b"%02x" % i for i in range(256)), dtype=np.uint8).reshape(256, 2)


def _columns(names: tuple[str, ...], batch: list[tuple]) -> dict:
    """Rows from Django's iterator (off PostgreSQL, or outside a transaction) as the stream's columns."""
    columns = {}
    for name, values in zip(names, zip(*batch)):
        if name == "content_hash":
            columns[name] = _hex_digits(values)
        elif name in _NESTED:
            columns[name] = [None if v is None else json.loads(v) for v in values]
        else:
            columns[name] = pa.array(values, type=pa.int64() if name in _INTEGERS else pa.string())
    return columns


def _hex_digits(hashes: tuple) -> np.ndarray:
    """UUIDs as a numpy ``S32`` array of their hex digits."""
    raw = b"".join(h.bytes for h in hashes)
    digits = _HEX[np.frombuffer(raw, dtype=np.uint8)].reshape(len(hashes), 32)
    return digits.view("S32").ravel()


def _credit(columns: dict, selection: Selection) -> None:
    """Chosen edits credited to their originals' submissions and placed by their originals' hashes."""
    ids = columns["id"].to_numpy()
    edits = np.flatnonzero(np.isin(ids, np.fromiter(selection.credit, dtype=np.int64)))
    if not len(edits):
        return
    submissions, hashes = columns["submission_id"].to_numpy().copy(), columns["content_hash"].copy()
    for i in edits.tolist():
        submissions[i] = selection.credit[int(ids[i])]
        hashes[i] = selection.placement[int(ids[i])]
    columns["submission_id"], columns["content_hash"] = pa.array(submissions), hashes


def _place_by_prompt(columns: dict) -> None:
    """Preference records placed by their prompt, not their content: every pair of a prompt goes to one split.

    Pairs that share a prompt are separate records (a partner's several
    answers to one question, a pair written in review); placed by content
    they would spread over ``train`` and ``test``, and a held-out preference
    accuracy would be measured on prompts the model was trained on.
    """
    kinds = columns["kind"].to_pylist()
    if "preference" not in kinds:
        return
    hashes = columns["content_hash"].copy()
    for i, (kind, prompt) in enumerate(zip(kinds, columns["prompt"])):
        if kind == "preference":
            canonical = json.dumps(prompt, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
            hashes[i] = hashlib.blake2b(canonical.encode(), digest_size=16).hexdigest().encode()
    columns["content_hash"] = hashes


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


def _copies(alias: str) -> bool:
    """Whether the stream comes by COPY: on PostgreSQL inside a transaction (outside one, a cursor would be held)."""
    connection = connections[alias]
    return connection.vendor == "postgresql" and connection.in_atomic_block


def _fetch(rows, names: tuple[str, ...], copied: bool, prepare: Callable[[dict], dict], *,
           walk: bool = False) -> Iterator[dict]:
    """Batches of columns, each through ``prepare``: on the read-ahead thread when the rows come by COPY.

    There ``prepare`` (the chunk files' texts joined in: reading and
    decompressing them is much of a build) overlaps the build's placement
    and writing; it must not use the connection, which the COPY holds.
    ``walk``: the COPY's plan walks the primary key rather than sorting (see ``_large_share``).
    """
    if not copied:
        iterator = rows.iterator(chunk_size=CHUNK)
        while batch := list(itertools.islice(iterator, CHUNK)):
            yield prepare(_columns(names, batch))
        return
    sql, sql_params = rows.query.sql_with_params()
    connection = connections[rows.db]
    connection.ensure_connection()
    with _without_sort(connection) if walk else nullcontext():
        yield from read_ahead(_prepared(_copy(connection.connection, sql, sql_params, names), prepare))


def _large_share(alias: str, language: str) -> bool:
    """Whether ``language`` holds at least ``WALK_SHARE`` of the records (the table's size from its statistics).

    Its rows then come in primary-key order from a walk of that index, the
    first at once. Otherwise PostgreSQL finds them by the (language, kind,
    status) index and sorts them by id first (at 667,000 of 1,000,000
    records: 0.7 s before the first row, and 64 MB spilled to disk), while
    the build waits; for a small share that beats walking every record.
    """
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [Record._meta.db_table])
        (table,) = cursor.fetchone()
    return table > 0 and Record.objects.using(alias).filter(language__code=language).count() >= WALK_SHARE * table


@contextmanager
def _without_sort(connection):
    """Plans made inside avoid sorting where an index gives the order; the setting is restored after."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_sort")
        (before,) = cursor.fetchone()
        cursor.execute("SET LOCAL enable_sort = off")
    yield  # not restored after an error: the transaction is lost then, and its SET LOCAL with it
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('enable_sort', %s, true)", [before])


def _prepared(batches: Iterator[dict], prepare: Callable[[dict], dict]) -> Iterator[dict]:
    with closing(batches):  # the COPY ends on the thread that reads it, as soon as this does
        for columns in batches:
            yield prepare(columns)


def _copy(connection, sql: str, sql_params, names: tuple[str, ...]) -> Iterator[dict]:
    """The query's rows as CSV from ``COPY``, parsed by pyarrow, as columns of at most ``CHUNK`` rows.

    PostgreSQL's CSV writes NULL as an empty field and the empty string as
    ``""``; the options say the same, and nothing else is null (not a text "NULL").
    """
    types = {name: pa.int64() if name in _INTEGERS else pa.string() for name in names}
    options = {
        "read_options": pcsv.ReadOptions(column_names=list(names), use_threads=False, block_size=_BLOCK),
        "parse_options": pcsv.ParseOptions(newlines_in_values=True),
        "convert_options": pcsv.ConvertOptions(column_types=types, null_values=[""], strings_can_be_null=True,
                                               quoted_strings_can_be_null=False),
    }
    with connection.cursor() as cursor, cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)", sql_params) as copy:
        data = _CopyReader(copy)
        if data.empty():  # pyarrow refuses a CSV without a line
            return
        for batch in pcsv.open_csv(io.BufferedReader(data, _BLOCK), **options):
            for start in range(0, batch.num_rows, CHUNK):
                yield _arrow_columns(batch.slice(start, CHUNK))


_BLOCK = 4 << 20


class _CopyReader(io.RawIOBase):
    """A COPY's output as a file: psycopg hands it over a row at a time."""

    def __init__(self, copy):
        self.copy = copy
        self.data, self.at = memoryview(b""), 0

    def readable(self) -> bool:
        return True

    def empty(self) -> bool:
        if self.at == len(self.data):
            self.data, self.at = memoryview(self.copy.read()), 0
        return not len(self.data)

    def readinto(self, buffer) -> int:
        filled = 0
        while filled < len(buffer):
            if self.at == len(self.data):
                self.data, self.at = memoryview(self.copy.read()), 0
                if not len(self.data):
                    break
            n = min(len(buffer) - filled, len(self.data) - self.at)
            buffer[filled : filled + n] = self.data[self.at : self.at + n]
            filled, self.at = filled + n, self.at + n
        return filled


def _arrow_columns(batch: pa.RecordBatch) -> dict:
    columns = {}
    for name, values in zip(batch.schema.names, batch.columns):
        if name == "content_hash":
            digits = values.cast(pa.binary(32))
            columns[name] = np.frombuffer(digits.buffers()[1], dtype="S32", count=len(digits),
                                          offset=digits.offset * 32)
        elif name in _NESTED:
            columns[name] = [None if v is None else json.loads(v) for v in values.to_pylist()]
        else:
            columns[name] = values
    return columns


def content_of(columns: dict, kind: str, i: int) -> dict:
    """Row ``i``'s content as the record holds it (keys it lacks are absent), for ``text_fields``."""
    content = {}
    for name in CONTENT_FIELDS[kind]:
        value = columns[name][i]
        if isinstance(value, pa.Scalar):
            value = value.as_py()
        if value is not None:
            content[name] = value
    return content


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


def license_rows(selection: Selection, *, licenses: list[str]) -> list[dict]:
    """Per submission credited that is under one of ``licenses``: partner and licence, with the records and
    tokens the filters let through."""
    credited = _under(licenses, set(selection.credit.values()) | set(selection.sources.values()))
    credit = {edit: submission for edit, submission in selection.credit.items() if submission in credited}
    qs = selection.qs.filter(Q(submission__license__in=licenses) | _id_in(selection.qs.db, list(credit)))
    own = qs.exclude(_id_in(qs.db, list(selection.credit))) if selection.credit else qs
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
    sources = {pair: submission for pair, submission in selection.sources.items() if submission in credited}
    written = selection.qs.filter(_id_in(qs.db, list(sources))).order_by().values_list("id", "tokens") if sources else []
    for record_id, tokens in written:
        totals[sources[record_id]]["records"] += 1
        totals[sources[record_id]]["tokens"] += tokens
    return license_rows_of(totals)


def _under(licenses: list[str], submissions: set[int]) -> set[int]:
    return set(Submission.objects.filter(pk__in=list(submissions), license__in=licenses).values_list("id", flat=True))


def license_rows_of(totals: dict[int, dict]) -> list[dict]:
    """``license_rows`` from ``{submission id: {"records", "tokens"}}`` already counted (by a build's stream)."""
    submissions = Submission.objects.filter(pk__in=list(totals)).values_list("id", "partner__slug", "license")
    return [
        {"submission_id": pk, "partner_slug": slug, "license": spdx, **totals[pk]}
        for pk, slug, spdx in sorted(submissions)
    ]
