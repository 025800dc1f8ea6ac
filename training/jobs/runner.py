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
import shlex
import signal
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from training.jobs.contract import JobSpec

LOG_TAIL_LINES = 200
REPO_ROOT = Path(__file__).resolve().parents[2]
SBATCH_TEMPLATE = Path(__file__).with_name("templates") / "torchrun.sbatch"
RENDEZVOUS_PORT = 29500
TORCHRUN_STOP_SECONDS = 60  # torchrun gives its ranks 30 s after SIGTERM, then kills them

# All the child sees of the worker's environment: what Python, the GPU stack,
# the hub and the object store need. The rest (the broker URL, and whatever
# else a host's environment holds) stays with the worker: the job runs data
# and models from outside, and needs none of it.
CHILD_ENV_NAMES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR", "PYTHONPATH", "LD_LIBRARY_PATH",
    "CC",  # triton compiles kernels with it (training/jobs/train.py)
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TOKENIZERS_PARALLELISM", "XDG_CACHE_HOME",
    "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
})
CHILD_ENV_PREFIXES = (
    "LC_", "CUDA_", "NVIDIA_", "NCCL_", "HF_", "TRANSFORMERS_", "TORCH", "PYTORCH_", "TRITON_",
    "AWS_",  # the object store's keys and region (training/run_store.py)
    "OCCIPORTAL_S3_", "OCCIPORTAL_RUN_STORE_", "OCCIPORTAL_JOB_",
    "SLURM_",  # sbatch's cluster and account settings, for runs on several nodes
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
    """Start ``python -m training.jobs`` (:func:`launch_command`), pass each JSON event to ``on_event`` as it arrives.

    The child's environment is :func:`child_environment` of this process's,
    plus ``env``.

    ``cancel_check`` is polled while the child runs; when it returns True the
    child's whole process group is killed (SIGKILL: checkpoints are written
    atomically, so there is nothing to flush; torchrun is first asked with
    SIGTERM to stop its ranks, a Slurm job is cancelled) and the result is
    marked cancelled. Non-JSON output goes only to the log tail. If ``on_event`` or
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
        command, output_file = launch_command(spec, spec_path, python)
        try:
            child = subprocess.Popen(
                command,
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
        source = (_follow, (output_file, child, lines)) if output_file else (_pump, (child.stdout, lines))
        reader = threading.Thread(target=source[0], args=source[1], daemon=True)
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
                    _kill_group(child, spec)
        except BaseException:
            _kill_group(child, spec)  # never leave an orphaned GPU job behind
            raise
        finally:
            exit_code = child.wait()
            reader.join(timeout=5)
    if exit_code != 0 and (last_event or {}).get("event") != "error":
        tail.append(f"job exited with code {exit_code}" + (" (cancelled)" if cancelled else ""))
    return JobResult(exit_code=exit_code, last_event=last_event, log_tail=list(tail), cancelled=cancelled)


def launch_command(spec: JobSpec, spec_path: Path, python: str) -> tuple[list[str], Path | None]:
    """The command that starts ``spec``'s job, and the file its output goes to (None: its stdout).

    One process: ``python -m training.jobs SPEC``. Several GPUs on one host:
    the same entry point as ranks 0..N-1 under ``torchrun --standalone``.
    Several hosts: a Slurm batch job (:func:`write_sbatch_script`) submitted
    with ``sbatch --wait``, whose output file is followed; the spec and script
    lie in ``output_dir``, which every node must see (a shared filesystem).
    """
    entry = ["-m", "training.jobs", str(spec_path)]
    resources = spec.resources
    if resources.nodes > 1:
        folder = Path(spec.output_dir) / "slurm"
        folder.mkdir(parents=True, exist_ok=True)
        shared_spec = folder / "spec.json"
        shared_spec.write_text(spec.to_json())
        script, output = write_sbatch_script(spec, shared_spec, python, folder)
        return ["sbatch", "--wait", "--parsable", str(script)], output
    if resources.gpus_per_node > 1:
        torchrun = ["-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
                    "--nproc-per-node", str(resources.gpus_per_node)]  # fmt: skip
        return [python, *torchrun, *entry], None
    return [python, *entry], None


def write_sbatch_script(spec: JobSpec, spec_path: Path, python: str, folder: Path) -> tuple[Path, Path]:
    """``folder/job.sbatch`` from templates/torchrun.sbatch: ``srun torchrun`` on every node, c10d rendezvous."""
    output = folder / "job.out"
    output.unlink(missing_ok=True)  # only this attempt's lines are followed
    values = {
        "run_id": spec.run_id, "job_name": slurm_job_name(spec), "nodes": spec.resources.nodes,
        "gpus_per_node": spec.resources.gpus_per_node, "port": RENDEZVOUS_PORT,
        "output": shlex.quote(str(output)), "workdir": shlex.quote(os.getcwd()),
        "pythonpath": shlex.quote(str(REPO_ROOT)), "python": shlex.quote(python), "spec_path": shlex.quote(str(spec_path)),
    }  # fmt: skip
    script = folder / "job.sbatch"
    script.write_text(string.Template(SBATCH_TEMPLATE.read_text()).substitute(values))
    return script, output


def slurm_job_name(spec: JobSpec) -> str:
    return "occiportal-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in spec.run_id)


def child_environment(environ) -> dict[str, str]:
    """The variables of ``environ`` a job may see: ``CHILD_ENV_NAMES`` and ``CHILD_ENV_PREFIXES``."""
    return {name: value for name, value in environ.items()
            if name in CHILD_ENV_NAMES or name.startswith(CHILD_ENV_PREFIXES)}


def _pump(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


def _follow(path: Path, child: subprocess.Popen, lines: queue.Queue, poll_seconds: float = 0.5) -> None:
    """The lines of the batch job's output file as they are written, until ``sbatch --wait`` returns."""
    position, pending = 0, ""
    while True:
        finished = child.poll() is not None
        if path.is_file():
            with path.open(errors="replace") as stream:
                stream.seek(position)
                pending += stream.read()
                position = stream.tell()
            *complete, pending = pending.split("\n")
            for line in complete:
                lines.put(line)
        if finished:
            break
        time.sleep(poll_seconds)
    child.stdout.read()  # sbatch's own words (the job id) go nowhere
    if pending:
        lines.put(pending)
    lines.put(None)


def _signal_group(child: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(child.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _parse_event(line: str) -> dict | None:
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


def _kill_group(child: subprocess.Popen, spec: JobSpec) -> None:
    # torchrun starts each rank in a session of its own, out of reach of a kill
    # of its group; on SIGTERM it stops them itself (SIGTERM, then SIGKILL).
    if spec.resources.world_size > 1:
        _signal_group(child, signal.SIGTERM)
        try:
            child.wait(timeout=TORCHRUN_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            pass
    _signal_group(child, signal.SIGKILL)
    if spec.resources.nodes > 1:  # killing sbatch --wait leaves the batch job running
        subprocess.run(["scancel", "--name", slurm_job_name(spec)], check=False, capture_output=True)
