"""Marker files that tell a running GPU job to stop, without a database.

The GPU worker has no database credentials, so the portal signals through the
job's output folder, which both sides can reach (shared storage):

    <output_dir>/ATTEMPT     the attempt the portal currently expects
    <output_dir>/CANCELLED   staff cancelled the job

A worker polls :func:`should_stop` while its child runs and kills the child
when the job was cancelled or a newer attempt superseded it (the sweeper took
it for dead). So a job is never run twice for long, even if a "dead" job was
only slow. Standard library only.
"""

from pathlib import Path

ATTEMPT = "ATTEMPT"
CANCELLED = "CANCELLED"


def mark_attempt(output_dir: str, attempt: int) -> None:
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ATTEMPT).write_text(str(attempt))


def mark_cancelled(output_dir: str) -> None:
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CANCELLED).touch()


def should_stop(output_dir: str, attempt: int) -> bool:
    folder = Path(output_dir)
    if (folder / CANCELLED).exists():
        return True
    try:
        return int((folder / ATTEMPT).read_text().strip() or 0) > attempt
    except (OSError, ValueError):
        return False
