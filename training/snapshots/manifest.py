"""manifest.json: every shard with its SHA-256, the parameters and the figures.

No dates and sorted keys: the manifest of two identical builds differs only
in the version it names. The training job pins a snapshot by this file's sha256.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from training.jobs.contract import sha256_of

FORMAT = 1
NAME = "manifest.json"


def write(root: Path, *, name: str, version: int, license: str, licenses: dict, override: dict | None,
          params: dict, counts: dict, shards: list[dict], contamination: dict, fertility: dict, epochs: dict) -> str:
    """Write the manifest under ``root`` and return its sha256.

    ``license`` is the declared licence, ``licenses`` the records' own
    (``{spdx: {"submissions": n, "records": n}}``), ``override`` the licence
    override (``{"reason", "by", "conflicts"}``) or None, ``epochs`` the
    repetition achieved per language (``{"max": n, "mean": x}``).
    """
    entries = sorted(
        ({"path": str(Path(s["path"]).relative_to(root)), "rows": s["rows"], "sha256": sha256_of(s["path"]),
          "bytes": Path(s["path"]).stat().st_size} for s in shards),
        key=lambda e: e["path"],
    )
    manifest = {
        "format": FORMAT,
        "snapshot": f"{name}@{version}",
        "name": name,
        "version": version,
        "license": license,
        "licenses": licenses,
        "license_override": override,
        "epochs": epochs,
        "parameters": params,
        "counts": counts,
        "contamination": contamination,
        "fertility": fertility,
        "shards": entries,
        "card_sha256": sha256_of(root / "README.md") if (root / "README.md").exists() else None,
    }
    data = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    (root / NAME).write_bytes(data)
    return hashlib.sha256(data).hexdigest()
