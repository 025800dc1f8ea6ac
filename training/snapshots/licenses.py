"""Whether the records' licences allow the licence a snapshot declares."""

from __future__ import annotations

from annotation.licenses import BY_SPDX


def conflict_reason(declared: str, record_license: str) -> str | None:
    """Why material under ``record_license`` may not go out under ``declared``; None if it may."""
    snapshot, material = BY_SPDX[declared], BY_SPDX.get(record_license)
    if material is None:
        return f"unknown licence {record_license!r}"
    if snapshot.commercial and not material.commercial:
        return f"{record_license} forbids commercial use, {declared} allows it"
    if snapshot.commercial and not material.derivatives:
        return f"{record_license} forbids derivatives, which a commercial training set makes"
    if material.share_alike and record_license != declared:
        return f"{record_license} is share-alike: the snapshot must carry the same licence"
    return None


def license_conflicts(declared: str, rows: list[dict]) -> list[dict]:
    """The offending submissions among ``rows`` (see select.license_rows), for the refusal message."""
    found = []
    for row in rows:
        reason = conflict_reason(declared, row["license"])
        if reason:
            found.append({**row, "reason": reason})
    return found
