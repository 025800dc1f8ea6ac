"""The GPU worker: a Celery app of its own, without Django, and its one task.

    celery -A training.gpu_worker worker -Q gpu --concurrency 1 --prefetch-multiplier 1

It imports the job contract, the runner and the stop markers, all Django-free:
no settings, no models, no database credentials, no secret key, and no torch
in this process (the child ``python -m training.jobs`` imports it). It needs
the broker (``CELERY_BROKER_URL``) and, for a job in the object store, the
store's variables, which the child gets from the allow-listed part of this
process's environment (training/jobs/runner.py); specs never carry them.

``run_job`` runs a spec in a child process. Every event goes back to the
portal as a ``record_event`` task on the ``default`` queue, by name, numbered
per attempt so that a message delivered twice is recorded once. The job's
final word is sent once, last, with the log tail: ``done``, or ``error`` (a
crash or an OOM kill becomes an error marked resumable). Cancellation and a
newer attempt reach the worker as markers (training/job_control.py): in the
output folder, and under the spec's ``output_uri`` in the store for a host
that shares no folder.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
from importlib import metadata
from pathlib import Path

from celery import Celery
from kombu import Queue

from training import job_control
from training.broker_options import broker_transport_options, broker_url
from training.jobs.contract import (
    EVENTS_QUEUE, FINAL_EVENTS, GPU_QUEUE, RECORD_EVENT_TASK, RUN_JOB_TASK, Done, Error, Event, EventError, JobSpec,
    SpecError, Start, event_from_dict,
)  # fmt: skip
from training.jobs.runner import JobResult, run_in_child

log = logging.getLogger(__name__)

# triton compiles the kernels of a torch.compile'd run; huggingface_hub resolves hub revisions.
# boto3 moves snapshots and checkpoints to and from the object store.
LIBRARIES = ("torch", "transformers", "peft", "tokenizers", "safetensors", "accelerate", "triton", "huggingface_hub",
             "boto3")  # fmt: skip
# Exceptions worth another attempt from the last checkpoint; anything else
# (a bad spec, a missing snapshot, a file that fails its checksum) would fail
# the same way again. StoreUnavailable: the object store could not be reached.
RESUMABLE_ERRORS = {"OutOfMemoryError", "MemoryError", "StoreUnavailable"}
TAIL_LINES = 100
# Where bin/portal's filesystem broker keeps its folders, as the portal's settings have it.
DATA_DIR = Path(os.environ.get("OCCIPORTAL_DATA_DIR", Path(__file__).resolve().parents[1] / "data")).resolve()

# fixups=[]: Celery would otherwise load Django wherever DJANGO_SETTINGS_MODULE is set.
# Not the current app: in a process that also holds the portal's app (tests),
# the portal's shared tasks must keep resolving to the portal's.
app = Celery("occiportal-gpu", fixups=[], set_as_current=False)
app.conf.update(
    broker_url=broker_url(),
    broker_transport_options=broker_transport_options(broker_url(), DATA_DIR),
    broker_connection_retry_on_startup=True,
    task_queues=(Queue(GPU_QUEUE),),
    task_default_queue=GPU_QUEUE,
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    worker_prefetch_multiplier=1,  # one job at a time
    worker_hijack_root_logger=False,
)


# Acked on receipt, not acks_late: a job of days outlives the broker's
# redelivery window and must not start twice. A lost job is the sweeper's
# business: its lease runs out and it is dispatched again as a new attempt.
# shared=False: this app's task only; a shared one would be copied into any
# app finalised after this import (the portal's too, in tests), by chance of order.
@app.task(name=RUN_JOB_TASK, acks_late=False, ignore_result=True, shared=False)
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
    final: list[Event] = []

    def forward(event: Event) -> None:
        record = dataclasses.replace(event, attempt=attempt).to_dict()
        app.send_task(RECORD_EVENT_TASK, args=[spec.run_id, next(numbers), record], queue=EVENTS_QUEUE)

    def on_event(raw: dict) -> None:
        try:
            event = event_from_dict(raw)
        except EventError as error:  # stays in the log tail; the portal would refuse it
            log.warning("%s: dropped an event the contract refuses: %s", spec.run_id, error)
            return
        if isinstance(event, FINAL_EVENTS):
            final[:] = [event]  # sent once the child has exited, with the log tail
        else:
            forward(dataclasses.replace(event, versions=library_versions()) if isinstance(event, Start) else event)

    result = run_in_child(spec, on_event, cancel_check=should_stop)
    if result.cancelled:
        log.info("%s attempt %s stopped: cancelled or superseded", spec.run_id, attempt)
        return
    forward(final_event(result, final[0] if final else None))


def refuse(spec_json: str, attempt: int, error: Exception) -> None:
    """A spec this worker cannot read: tell the portal, if the spec names its job at all."""
    try:
        run_id = json.loads(spec_json)["run_id"]
    except (ValueError, TypeError, KeyError):
        log.error("unreadable job spec refused: %s", error)
        return
    event = Error(message=f"SpecError: {error}", error_type="SpecError", attempt=attempt)
    app.send_task(RECORD_EVENT_TASK, args=[run_id, 0, event.to_dict()], queue=EVENTS_QUEUE)


def final_event(result: JobResult, last: Event | None) -> Done | Error:
    """The job's last event with the exit code and log tail; a child that died without one becomes a resumable error."""
    tail = [line for line in result.log_tail if '"event": "heartbeat"' not in line][-TAIL_LINES:]
    if isinstance(last, Done):
        return dataclasses.replace(last, exit_code=result.exit_code, log_tail=tail)
    if isinstance(last, Error):
        resumable = last.error_type in RESUMABLE_ERRORS
        return dataclasses.replace(last, exit_code=result.exit_code, log_tail=tail, resumable=resumable)
    message = f"the job process died (exit code {result.exit_code})"
    return Error(message=message, resumable=True, exit_code=result.exit_code, log_tail=tail)


def library_versions() -> dict[str, str]:
    """Installed versions, read from package metadata: nothing is imported."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions
