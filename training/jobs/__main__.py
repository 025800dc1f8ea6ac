"""``python -m training.jobs SPEC.json``: run one job, JSON-line events on stdout.

Exit code 0 after a ``done`` event, 1 after an ``error`` event. When
``OCCIPORTAL_JOB_ROOTS`` is set (paths separated by ``os.pathsep``), every
local path of the spec must lie inside one of those roots. Every ``s3://``
URI must lie under ``s3://$OCCIPORTAL_RUN_STORE_BUCKET/$OCCIPORTAL_RUN_STORE_PREFIX``;
without that bucket a spec naming the object store is refused.
"""

from __future__ import annotations

import os
import sys
import traceback


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Events get their own copy of stdout; fd 1 then points at stderr, so
    # whatever a library prints cannot corrupt the event stream.
    events_stream = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from training.jobs.contract import Error, JobSpec, validate_paths, validate_store_uris
    from training.jobs.events import EventWriter
    from training.run_store import store_root_from_env

    emit = EventWriter(events_stream)
    if len(argv) != 1:
        emit(Error(message="usage: python -m training.jobs SPEC.json"))
        return 1
    try:
        spec = JobSpec.load(argv[0])
        emit.run_id = spec.run_id
        roots = [root for root in os.environ.get("OCCIPORTAL_JOB_ROOTS", "").split(os.pathsep) if root]
        store_roots = list(filter(None, [store_root_from_env()]))
        if roots:
            validate_paths(spec, roots, store_roots)
        else:
            validate_store_uris(spec, store_roots)
        return run(spec, emit)
    except BaseException as exc:  # noqa: BLE001 - the contract is an error event, whatever broke
        traceback.print_exc(file=sys.stderr)
        emit(Error(message=f"{type(exc).__name__}: {exc}"[:2000], error_type=type(exc).__name__))
        return 1


def run(spec, emit) -> int:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if spec.kind == "train":
        from training.jobs.train import run_training

        run_training(spec, emit)
    else:
        from training.jobs.evaluate import run_evaluation

        run_evaluation(spec, emit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
