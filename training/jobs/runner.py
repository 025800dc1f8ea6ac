"""Run a job in a child process and follow its events.

The GPU worker calls :func:`run_in_child`; a crash, an OOM kill or a segfault
in the child becomes a failed :class:`JobResult` with the last lines of its
output, never an exception in the worker. This module imports only the
standard library: the worker needs no torch to supervise a job.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from training.jobs.spec import JobSpec

LOG_TAIL_LINES = 200
REPO_ROOT = Path(__file__).resolve().parents[2]

# All the child sees of the worker's environment: what Python, the GPU stack,
# the hub and the object store need. The rest (DJANGO_SECRET_KEY, the broker
# URL, DATABASE_URL where one worker serves both queues) stays with the worker:
# the job runs data and models from outside, and needs none of it.
CHILD_ENV_NAMES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR", "PYTHONPATH", "LD_LIBRARY_PATH",
    "CC",  # triton compiles kernels with it (training/jobs/train.py)
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TOKENIZERS_PARALLELISM", "XDG_CACHE_HOME",
    "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
})
CHILD_ENV_PREFIXES = (
    "LC_", "CUDA_", "NVIDIA_", "NCCL_", "HF_", "TRANSFORMERS_", "TORCH", "PYTORCH_", "TRITON_",
    "AWS_",  # the object store's keys and region (training/jobs/storage.py)
    "OCCIPORTAL_S3_", "OCCIPORTAL_RUN_STORE_", "OCCIPORTAL_JOB_",
)


@dataclass
class JobResult:
    exit_code: int  # negative: killed by that signal
    last_event: dict | None
    log_tail: list[str]
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and (self.last_event or {}).get("event") == "done"

    def __iter__(self):  # unpacks as (exit_code, last_event, log_tail)
        return iter((self.exit_code, self.last_event, self.log_tail))


def run_in_child(
    spec: JobSpec,
    on_event: Callable[[dict], None],
    cancel_check: Callable[[], bool] | None = None,
    *,
    python: str = sys.executable,
    env: dict[str, str] | None = None,
    poll_seconds: float = 0.5,
) -> JobResult:
    """Start ``python -m training.jobs``, pass each JSON event to ``on_event`` as it arrives.

    The child's environment is :func:`child_environment` of this process's,
    plus ``env``.

    ``cancel_check`` is polled while the child runs; when it returns True the
    child's whole process group is killed (SIGKILL: checkpoints are written
    atomically, so there is nothing to flush) and the result is marked
    cancelled. Non-JSON output goes only to the log tail. If ``on_event`` or
    ``cancel_check`` raises, the child is killed and the exception propagates.
    """
    tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
    last_event: dict | None = None
    cancelled = False
    with tempfile.TemporaryDirectory(prefix="occiportal-job-") as scratch:
        spec_path = Path(scratch) / "spec.json"
        spec_path.write_text(spec.to_json())
        child_env = {**child_environment(os.environ), **(env or {}), "PYTHONUNBUFFERED": "1"}
        child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), child_env.get("PYTHONPATH")]))
        try:
            child = subprocess.Popen(
                [python, "-m", "training.jobs", str(spec_path)],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=child_env,  # the working directory is the caller's: relative spec paths mean the same
                text=True,
                errors="replace",
                start_new_session=True,  # its own process group, so a kill reaches its helpers too
            )
        except OSError as exc:
            return JobResult(exit_code=127, last_event=None, log_tail=[f"cannot start the job: {exc}"])

        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=_pump, args=(child.stdout, lines), daemon=True)
        reader.start()
        try:
            while True:
                try:
                    line = lines.get(timeout=poll_seconds)
                except queue.Empty:
                    line = ""
                if line is None:  # the child closed its output
                    break
                if line:
                    tail.append(line)
                    event = _parse_event(line)
                    if event is not None:
                        last_event = event
                        on_event(event)
                if cancel_check is not None and not cancelled and cancel_check():
                    cancelled = True
                    _kill_group(child)
        except BaseException:
            _kill_group(child)  # never leave an orphaned GPU job behind
            raise
        finally:
            exit_code = child.wait()
            reader.join(timeout=5)
    if exit_code != 0 and (last_event or {}).get("event") != "error":
        tail.append(f"job exited with code {exit_code}" + (" (cancelled)" if cancelled else ""))
    return JobResult(exit_code=exit_code, last_event=last_event, log_tail=list(tail), cancelled=cancelled)


def child_environment(environ) -> dict[str, str]:
    """The variables of ``environ`` a job may see: ``CHILD_ENV_NAMES`` and ``CHILD_ENV_PREFIXES``."""
    return {name: value for name, value in environ.items()
            if name in CHILD_ENV_NAMES or name.startswith(CHILD_ENV_PREFIXES)}


def _pump(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


def _parse_event(line: str) -> dict | None:
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


def _kill_group(child: subprocess.Popen) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
