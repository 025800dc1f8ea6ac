"""The GPU worker's one task: run a job spec in a child process, forward its events.

Runs on a GPU host with the broker and the shared storage or the object
store only: no Django models, no database credentials, and no torch in this
process (the child ``python -m training.jobs`` imports it). The child gets
the allow-listed part of this process's environment (training/jobs/runner.py),
which is where it finds the object store's endpoint and keys; specs never
carry them. Every event goes back to the portal
as a ``record_event`` task on the ``default`` queue, numbered per attempt so
that a message delivered twice is recorded once. The job's final word is sent
once, last, with the log tail: ``done``, or ``error`` (a crash or an OOM kill
becomes an error marked resumable). Cancellation and a newer attempt reach the
worker as markers (training/job_control.py): in the output folder, and under
the spec's ``output_uri`` in the store for a host that shares no folder.
"""

from __future__ import annotations

import itertools
import json
import logging
from importlib import metadata

from occiportal.celery import app
from training import job_control
from training.jobs.runner import JobResult, run_in_child
from training.jobs.spec import JobSpec, SpecError

log = logging.getLogger(__name__)

RECORD_EVENT = "training.run_tasks.record_event"
# triton compiles the kernels of a torch.compile'd run; huggingface_hub resolves hub revisions.
# boto3 moves snapshots and checkpoints to and from the object store.
LIBRARIES = ("torch", "transformers", "peft", "tokenizers", "safetensors", "accelerate", "triton", "huggingface_hub",
             "boto3")  # fmt: skip
# Exceptions worth another attempt from the last checkpoint; anything else
# (a bad spec, a missing snapshot, a file that fails its checksum) would fail
# the same way again. StoreUnavailable: the object store could not be reached.
RESUMABLE_ERRORS = {"OutOfMemoryError", "MemoryError", "StoreUnavailable"}
TAIL_LINES = 100


# Acked on receipt, not acks_late: a job of days outlives the broker's
# redelivery window and must not start twice. A lost job is the sweeper's
# business: its lease runs out and it is dispatched again as a new attempt.
@app.task(name="training.gpu_worker.run_job", acks_late=False, ignore_result=True)
def run_job(spec_json: str, attempt: int = 1) -> None:
    try:
        spec = JobSpec.from_json(spec_json)
    except SpecError as error:
        refuse(spec_json, attempt, error)
        return
    # The portal's markers: in the output folder, and in the store when the
    # spec has an output_uri (read there at most every 30 s).
    should_stop = job_control.StopCheck(spec.output_dir, attempt, output_uri=spec.output_uri)
    if should_stop():
        log.info("skipping %s attempt %s: cancelled or superseded", spec.run_id, attempt)
        return
    numbers = itertools.count()
    final: dict = {}

    def forward(event: dict) -> None:
        app.send_task(RECORD_EVENT, args=[spec.run_id, next(numbers), {**event, "attempt": attempt}], queue="default")

    def on_event(event: dict) -> None:
        if event.get("event") in ("done", "error"):
            final["event"] = event  # sent once the child has exited, with the log tail
        else:
            forward({**event, "versions": library_versions()} if event.get("event") == "start" else event)

    result = run_in_child(spec, on_event, cancel_check=should_stop)
    if result.cancelled:
        log.info("%s attempt %s stopped: cancelled or superseded", spec.run_id, attempt)
        return
    forward(final_event(result, final.get("event")))


def refuse(spec_json: str, attempt: int, error: Exception) -> None:
    """A spec this worker cannot read: tell the portal, if the spec names its job at all."""
    try:
        run_id = json.loads(spec_json)["run_id"]
    except (ValueError, TypeError, KeyError):
        log.error("unreadable job spec refused: %s", error)
        return
    event = {"event": "error", "message": f"SpecError: {error}", "error_type": "SpecError", "attempt": attempt}
    app.send_task(RECORD_EVENT, args=[run_id, 0, event], queue="default")


def final_event(result: JobResult, last: dict | None) -> dict:
    tail = [line for line in result.log_tail if '"event": "heartbeat"' not in line][-TAIL_LINES:]
    common = {"exit_code": result.exit_code, "log_tail": tail}
    if last and last.get("event") == "done":
        return {**last, **common}
    if last and last.get("event") == "error":
        return {**last, **common, "resumable": last.get("error_type") in RESUMABLE_ERRORS}
    return {"event": "error", "message": f"the job process died (exit code {result.exit_code})", "resumable": True, **common}


def library_versions() -> dict[str, str]:
    """Installed versions, read from package metadata: nothing is imported."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions
