"""Near-duplicate marks from the band index: the first-seen record of a cluster is its original.

First seen means the smallest ``(submission, line)``: within one submission
the earliest line is the original, across submissions the lower id. A lower
id that finishes after a higher one still becomes the original: the higher
submission's copies are pointed at it (their submission's near-duplicate
figure is left as counted at its finish). A preference record is never
marked (docs/near-duplicates.md: pairs that share a prompt are the data),
though it may be the original of another kind's record. The index is read
and written under its own lock, outside any database transaction; the
database only sees the UPDATEs of ``Record.near_duplicate_of``, in batches.
"""

import numpy as np

from annotation.models import Record, Submission
from annotation.models.submissions import Kind

from .signatures import band_index, signature_parts, signatures_index, signatures_keys

_BATCH = 1000
_LINE = np.uint64(0xFFFFFFFF)


def near_duplicates_mark(*, submission_id: int, tags: list[str] | None = None) -> int:
    """Index the submission's signatures and mark its records' (and later copies') originals; idempotent.

    ``tags`` limits the work to those parts (a written record's); by default
    every part of the submission. Returns how many of the submission's
    records are near-duplicates.
    """
    index = band_index()
    tags = signature_parts(submission_id=submission_id) if tags is None else tags
    with index.locked():
        signatures_index(tags)
        later = any(int(tag.split("/")[0]) > submission_id for tag in index.tags())
        # One part (an ingest chunk) at a time: a record's keys are all in its part, and the
        # index already holds every part, so marks come out the same with memory bounded by a chunk.
        for tag in tags:
            keys, owners = signatures_keys([tag])
            first = index.first_owners(keys)
            earlier = first < owners
            copies, originals = [owners[earlier]], [first[earlier]]
            if later:
                positions, others = index.matches(keys)
                after = (others >> np.uint64(32)) > np.uint64(submission_id)
                copies.append(others[after])
                originals.append(owners[positions[after]])
            _mark(np.concatenate(copies), np.concatenate(originals), submission_id)
    return Record.objects.filter(submission_id=submission_id, near_duplicate_of__isnull=False).count()


def band_matches(keys: np.ndarray) -> set[int]:
    """The ids of the stored records that share any of ``keys`` (band_keys of some texts)."""
    _positions, owners = band_index().matches(keys)
    return set(_record_ids(np.unique(owners)).values())


def _mark(copies: np.ndarray, originals: np.ndarray, submission_id: int) -> None:
    """Point each copy (an owner) at the smallest of its originals (owners before it).

    The copies are the submission's own records and, when it finished after a
    later one, that later one's. A later copy already pointing at a record
    before this submission keeps its mark: that record was seen first.
    """
    copies, originals = _smallest_per(copies, originals)
    copies, originals = _not_preference(copies, originals)
    ids = _record_ids(np.concatenate([copies, originals]))
    marks = {ids[c]: ids[o] for c, o in zip(copies.tolist(), originals.tolist()) if c in ids and o in ids}
    later = [ids[c] for c in copies[(copies >> np.uint64(32)) > np.uint64(submission_id)].tolist() if c in ids]
    for start in range(0, len(later), _BATCH):
        batch = later[start : start + _BATCH]
        keep = Record.objects.filter(pk__in=batch, near_duplicate_of__submission_id__lt=submission_id)
        for pk in keep.values_list("pk", flat=True):
            marks.pop(pk, None)
    _marks_save(list(marks.items()))


def _smallest_per(copies: np.ndarray, originals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct copy once, with the smallest of its originals."""
    order = np.lexsort((originals, copies))
    copies, originals = copies[order], originals[order]
    first = np.ones(len(copies), dtype=bool)
    first[1:] = copies[1:] != copies[:-1]
    return copies[first], originals[first]


def _not_preference(copies: np.ndarray, originals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The copies that are not preference records (a submission holds records of its own kind only)."""
    submissions = np.unique(copies >> np.uint64(32)).tolist()
    preference = Submission.objects.filter(pk__in=submissions, kind=Kind.PREFERENCE).values_list("pk", flat=True)
    kept = ~np.isin(copies >> np.uint64(32), np.fromiter(preference, dtype=np.uint64))
    return copies[kept], originals[kept]


def _record_ids(owners: np.ndarray) -> dict[int, int]:
    """``{owner: record id}`` for the owners whose record is stored (a deleted submission's are not)."""
    found: dict[int, int] = {}
    submissions = owners >> np.uint64(32)
    for submission in np.unique(submissions).tolist():
        lines = np.unique(owners[submissions == submission] & _LINE).tolist()
        for start in range(0, len(lines), _BATCH):
            stored = Record.objects.filter(submission_id=submission, line__in=lines[start : start + _BATCH])
            found.update({submission << 32 | line: pk for line, pk in stored.values_list("line", "pk")})
    return found


def _marks_save(marks: list[tuple[int, int]]) -> None:
    for start in range(0, len(marks), _BATCH):
        rows = [Record(pk=copy, near_duplicate_of_id=original) for copy, original in marks[start : start + _BATCH]]
        Record.objects.bulk_update(rows, ["near_duplicate_of"])
