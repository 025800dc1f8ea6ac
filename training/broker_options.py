"""The broker as both Celery apps reach it: the portal's (occiportal/celery.py, through
settings) and the GPU worker's (training/gpu_worker.py), which has no Django settings.

Standard library only, so the GPU worker can import it without Django.
"""

from __future__ import annotations

import os
from pathlib import Path

FILESYSTEM = "filesystem://"  # bin/portal's embedded default: no broker server


def broker_url() -> str:
    return os.environ.get("CELERY_BROKER_URL", FILESYSTEM)


def broker_transport_options(url: str, data_dir: Path) -> dict:
    """The filesystem broker's folders under ``data_dir/broker`` (created); else Redis's visibility timeout."""
    if url != FILESYSTEM:
        # Long GPU jobs do not rely on redelivery: the run row is the truth.
        return {"visibility_timeout": 3600}
    folder = data_dir / "broker"
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }
