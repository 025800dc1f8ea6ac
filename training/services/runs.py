"""Base models, training and evaluation runs: create, dispatch, cancel.

The portal builds a self-contained job spec (training/jobs/contract.py, standard
library only) and sends it to the ``gpu`` queue by task name; it never
imports the job code that imports torch. What the job reports back is
recorded by services/run_events.py. With the object store on
(services/storage.py), a spec names the snapshot and the job's output by
``s3://`` URIs and the snapshot is uploaded before the first job reads it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from celery import current_app
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from occiportal.broker import send_on_commit
from training import job_control, run_store
from training.jobs.contract import (
    FINETUNING, GPU_QUEUE, METHODS, RUN_JOB_TASK, JobSpec, SpecError, confine_path, is_local_model, local_model_revision,
    code_version, validate_paths,
)
from training.models import BaseModel, EvaluationRun, EvaluationSuite, Snapshot, TrainingRun

from .lineage import WithdrawnShare, snapshot_withdrawn_share
from .withdrawals import snapshot_withdrawals_pending
from .run_fit import estimate_summary, training_run_estimate
from .storage import job_output_uri, snapshot_location, snapshot_upload, store_connect, store_root

log = logging.getLogger(__name__)


def base_model_create(*, name: str, source: str, revision: str = "", tokenizer: str = "", is_tiny: bool = False) -> BaseModel:
    """Register a base model, its revision pinned for every run.

    A hub id is only recorded with the commit or tag given (nothing is
    downloaded); a local folder's revision is the hash of its config, weights
    and tokenizer files, read here, and a job refuses the folder once they change.
    """
    if is_local_model(source):
        revision = _local_revision(source, revision)
    model = BaseModel(name=name, source=source, revision=revision, tokenizer=tokenizer, is_tiny=is_tiny)
    model.full_clean()
    model.save()
    return model


def _local_revision(source: str, given: str) -> str:
    try:
        found = local_model_revision(source)
    except OSError as exc:
        raise ValidationError(str(exc)) from exc
    if given and given != found:
        raise ValidationError(f"a local folder's revision is the hash of its files ({found}), not {given}")
    return found


def evaluation_suite_create(*, path: str, name: str = "", provenance: str = EvaluationSuite.Provenance.NATIVE) -> EvaluationSuite:
    """Register a folder of ``<lang>.jsonl`` files (idempotent on the folder)."""
    folder = Path(path).resolve()
    if not any(folder.glob("*.jsonl")):
        raise ValidationError(f"no <lang>.jsonl files in {folder}")
    suite, _ = EvaluationSuite.objects.get_or_create(
        path=str(folder), defaults={"name": name or folder.name, "provenance": provenance}
    )
    return suite


def training_run_create(
    *, created_by, snapshot: Snapshot, base_model: BaseModel, method: str, finetuning: str = "full",
    hyperparameters: dict | None = None, resources: dict | None = None, eval_suites=(), max_attempts: int = 3,
    withdrawn_reason: str = "",
) -> TrainingRun:  # fmt: skip
    """Staff (or the CLI, ``created_by=None``) start a run; it is dispatched when the transaction commits.

    A snapshot holding data that partners withdrew after its build is refused
    unless ``withdrawn_reason`` says why; the run records the reason and who gave it.
    Raises ``ValidationError``: under ``hyperparameters`` for a name TrainConfig
    lacks or a value of the wrong type, under ``eval_suites`` for a suite outside
    the storage roots (its evaluation would otherwise be refused after training),
    and without a field for a snapshot with no data for ``method`` or a run that
    does not fit its GPUs (services/run_fit.py); the estimate is kept in the manifest.
    ``resources``: Resources fields (``gpus_per_node``, ``nodes``); empty: one GPU.
    """
    _require_staff(created_by)
    if snapshot.status != Snapshot.Status.READY:
        raise ValidationError(f"snapshot {snapshot.label} is not ready")
    held = snapshot_withdrawn_share(snapshot)  # as counted at the last withdrawal reaching it
    # A withdrawal still being counted may reach the snapshot: its figures are not known yet, so it asks for a reason too.
    pending = snapshot_withdrawals_pending(snapshot)
    withdrawn_reason = withdrawn_reason.strip() if held or pending else ""
    if held and not withdrawn_reason:
        raise ValidationError(_withdrawn_refusal(snapshot, held), code="withdrawn")
    if pending and not withdrawn_reason:
        raise ValidationError(_(
            "A withdrawal of data that snapshot %(label)s may hold is still being counted. Wait a few minutes, "
            "or give a reason to train on it anyway."
        ) % {"label": snapshot.label}, code="withdrawn")
    hyperparameters, resources = dict(hyperparameters or {}), dict(resources or {})
    fit = training_run_estimate(snapshot=snapshot, base_model=base_model, method=method, finetuning=finetuning,
                                hyperparameters=hyperparameters, resources=resources)  # fmt: skip
    _check_suites(eval_suites)
    if method not in METHODS or finetuning not in FINETUNING:  # the rest of the spec is checked by job_dispatch
        raise ValidationError(f"method must be one of {', '.join(METHODS)} and finetuning one of {', '.join(FINETUNING)}")
    # A first upload may take minutes: done before the transaction, so no row waits on it.
    snapshot_upload(snapshot=snapshot)
    with transaction.atomic():
        run = TrainingRun.objects.create(
            created_by=created_by, snapshot=snapshot, base_model=base_model, method=method,
            finetuning=finetuning, hyperparameters=hyperparameters, resources=resources, max_attempts=max_attempts,
            manifest={"estimate": estimate_summary(fit)} if fit else {},
            withdrawn_override_reason=withdrawn_reason, withdrawn_override_by=created_by if withdrawn_reason else None,
        )  # fmt: skip
        run.output_dir = _fresh_folder("runs", run.pk)
        run.eval_suites.set(eval_suites)
        job_dispatch(job=run)
    return run


def _withdrawn_refusal(snapshot: Snapshot, held: WithdrawnShare) -> str:
    return _(
        "Snapshot %(label)s holds %(records)s withdrawn records (%(tokens)s tokens, %(percent).1f %% of its rows). "
        "Train on a later version, or give a reason to train on it anyway."
    ) % {"label": snapshot.label, "records": held.records, "tokens": held.tokens, "percent": held.percent}


def training_run_rerun(*, created_by, run: TrainingRun) -> TrainingRun:
    """A new run from ``run``'s manifest: same snapshot, base model, method and hyper-parameters (seed included)."""
    spec = run.manifest.get("job_spec") or {}
    return training_run_create(
        created_by=created_by, snapshot=run.snapshot, base_model=run.base_model, method=spec.get("method", run.method),
        finetuning=spec.get("finetuning", run.finetuning), hyperparameters=spec.get("train", run.hyperparameters),
        resources=spec.get("resources", run.resources), eval_suites=run.eval_suites.all(), max_attempts=run.max_attempts,
    )  # fmt: skip


def evaluation_run_create(
    *, created_by, model_path: str, suites, training_run: TrainingRun | None = None,
    base_model: BaseModel | None = None, max_items: int | None = None,
) -> EvaluationRun:  # fmt: skip
    """Evaluate a checkpoint or base model on suites; dispatched when the transaction commits."""
    _require_staff(created_by)
    suites = list(suites)
    if not suites:
        raise ValidationError("an evaluation needs at least one suite")
    with transaction.atomic():
        evaluation = EvaluationRun.objects.create(
            created_by=created_by, model_path=model_path, training_run=training_run,
            base_model=base_model, max_items=max_items,
        )  # fmt: skip
        evaluation.output_dir = _fresh_folder("evaluations", evaluation.pk)
        evaluation.suites.set(suites)
        job_dispatch(job=evaluation)
    return evaluation


def job_dispatch(*, job: TrainingRun | EvaluationRun) -> None:
    """Queue the job's current attempt: spec checked against the storage roots, sent on commit.

    Also the retry: a later attempt reuses the output folder (and output
    URI), so a training job resumes from its last checkpoint, on any host
    when the object store is on.
    """
    # The snapshot is in the store already: uploaded by its build task and, at
    # the latest, before the run was created; never here, under a row lock.
    spec = job_spec(job)
    job_control.mark_attempt(job.output_dir, job.attempt)
    now = timezone.now()
    job.status, job.unsent_since = job.Status.QUEUED, now
    job.lease_until = now + timedelta(seconds=settings.TRAINING["QUEUE_LEASE_SECONDS"])
    job.manifest = {**job.manifest, **_manifest(job, spec)}
    job.save()
    attempt = job.attempt
    _mark_in_store(job, lambda store, uri: job_control.mark_attempt_in_store(store, uri, attempt))
    job_send(job=job)


def job_send(*, job: TrainingRun | EvaluationRun) -> None:
    """Send the job's current attempt, as its manifest has it, to the ``gpu`` queue once the transaction commits.

    ``unsent_since`` is cleared once the broker took the message; a broker
    that cannot be reached leaves it set, and the sweeper sends again.
    """
    spec_json, attempt = JobSpec.from_dict(job.manifest["job_spec"]).to_json(), job.attempt
    sent = type(job).objects.filter(pk=job.pk, attempt=attempt)
    send_on_commit(
        RUN_JOB_TASK, args=[spec_json], kwargs={"attempt": attempt}, queue=GPU_QUEUE,
        on_sent=lambda: sent.update(unsent_since=None),
    )


def job_cancel(*, user, job: TrainingRun | EvaluationRun) -> bool:
    """Staff cancel a queued or running job; its worker kills the child within a second (30 s through the store)."""
    _require_staff(user)
    with transaction.atomic():
        job = type(job).objects.select_for_update().get(pk=job.pk)
        if not job.is_active:
            return False
        job.status = job.Status.CANCELLED
        job.finished_at = timezone.now()
        job.lease_until = None
        job.failure = f"cancelled by {user.get_username() if user else 'the command line'}"
        job.save()
        job_control.mark_cancelled(job.output_dir)
        _mark_in_store(job, job_control.mark_cancelled_in_store)
    return True


def _mark_in_store(job: TrainingRun | EvaluationRun, mark: Callable[[run_store.Store, str], None]) -> None:
    """Once committed, ``mark(store, output_uri)``: the control marker for a GPU host that shares no folder.

    After the commit, so a rolled-back cancel never stops a live job and no
    row lock waits on the network. A store that cannot be reached is logged:
    the row is the truth (the job's events are refused), and the local marker
    still reaches a worker that shares the folder.
    """
    output_uri = (job.manifest.get("job_spec") or {}).get("output_uri")  # the one the worker was sent
    if not output_uri:
        return

    def write() -> None:
        try:
            mark(store_connect(), output_uri)
        except (run_store.StoreError, run_store.StoreUnavailable) as error:
            log.warning("%s: the stop marker could not be written to the object store (%s); retrying in a task",
                        job.job_id, error)  # fmt: skip
            current_app.send_task(WRITE_MARKERS, args=[job.job_id], countdown=30)

    transaction.on_commit(write, robust=True)  # robust: nothing here may keep the job from being sent


WRITE_MARKERS = "training.run_tasks.write_stop_markers"


def job_markers_write(*, job_id: str) -> None:
    """Write a job's stop markers to the object store as its row has them now.

    The retry of a marker write that failed: whatever happened since (a
    later attempt, a cancel), the row is the truth, so writing it again is
    always right. Raises StoreError / StoreUnavailable while the store is away.
    """
    job = job_by_id(job_id)
    output_uri = (job.manifest.get("job_spec") or {}).get("output_uri") if job else None
    if not output_uri:
        return
    store = store_connect()
    job_control.mark_attempt_in_store(store, output_uri, job.attempt)
    if job.status == job.Status.CANCELLED:
        job_control.mark_cancelled_in_store(store, output_uri)


def job_by_id(job_id: str, *, for_update: bool = False) -> TrainingRun | EvaluationRun | None:
    """The job named ``job_id`` ("run-<pk>" or "eval-<pk>"), or None; row-locked with ``for_update``."""
    kind, _, pk = str(job_id).partition("-")
    model = {"run": TrainingRun, "eval": EvaluationRun}.get(kind)
    if model is None or not pk.isdigit():
        return None
    jobs = model.objects.select_for_update() if for_update else model.objects
    return jobs.filter(pk=pk).first()



def training_run_publish(*, user, run: TrainingRun, published: bool = True, confirmed: bool = False) -> None:
    """Staff publish a succeeded run, or unpublish one (``confirmed``: it leaves the leaderboard and public pages)."""
    _require_staff(user)
    if published and run.status != run.Status.SUCCEEDED:
        raise ValidationError("only a succeeded run can be published")
    if not published and not confirmed:
        raise ValidationError(_("Tick the box to confirm that the run is to be unpublished."))
    TrainingRun.objects.filter(pk=run.pk).update(published=published)


# -- specs and manifests ---------------------------------------------------------


def job_spec(job: TrainingRun | EvaluationRun) -> JobSpec:
    """The spec of the job's current attempt: the one place the portal builds one.

    Raises ValidationError when the contract refuses it or a location lies
    outside the storage roots (or the object store's bucket and prefix).
    """
    if isinstance(job, TrainingRun):
        partners = job.snapshot.lineage.values_list("partner__name", flat=True).distinct().order_by("partner__name")
        fields = {
            "kind": "train", "base_model": job.base_model.source, "base_model_revision": job.base_model.revision,
            "method": job.method, "finetuning": job.finetuning, "train": job.hyperparameters,
            "snapshot_dir": snapshot_location(job.snapshot), "snapshot_sha256": job.snapshot.manifest_sha256 or None,
            "snapshot_name": job.snapshot.label, "partners": list(partners), "resources": job.resources,
        }  # fmt: skip
    else:
        # A checkpoint is not pinned beforehand: the job records the hash of what it loads.
        pinned = job.base_model.revision if job.base_model and job.model_path == job.base_model.source else ""
        suites = [suite.path for suite in job.suites.order_by("name")]
        fields = {"kind": "evaluate", "base_model": job.model_path, "base_model_revision": pinned,
                  "eval": {"suites": suites, "max_items": job.max_items}}  # fmt: skip
    try:
        spec = JobSpec.from_dict(
            {**fields, "run_id": job.job_id, "output_dir": job.output_dir, "output_uri": job_output_uri(job.output_dir)}
        )
        validate_paths(spec, _storage_roots(), [root for root in [store_root()] if root])
    except SpecError as exc:
        raise ValidationError(str(exc)) from exc
    return spec


def _storage_roots() -> list:
    return [settings.DATA_DIR, *settings.TRAINING["STORAGE_ROOTS"]]


def _check_suites(suites) -> None:
    for suite in suites:
        try:
            confine_path(f"evaluation suite {suite.name!r}", suite.path, _storage_roots())
        except SpecError as exc:
            raise ValidationError({"eval_suites": str(exc)}) from exc


def _manifest(job, spec: JobSpec) -> dict:
    base = job.base_model
    manifest = {
        "job_spec": spec.to_dict(),
        "seeds": {"train": spec.train.seed},
        "code_version": code_version(),
        "base_model": {"name": base.name, "source": base.source, "revision": base.revision} if base else None,
    }
    if isinstance(job, TrainingRun):
        manifest["snapshot"] = {"label": job.snapshot.label, "sha256": job.snapshot.manifest_sha256}
    return manifest



def _fresh_folder(kind: str, pk: int) -> str:
    # A folder left by an earlier database (ids restart) would make the job
    # resume, or report "already done", from someone else's checkpoint.
    folder = Path(settings.DATA_DIR) / kind / str(pk)
    return str(folder if not folder.exists() else folder.with_name(f"{pk}-{uuid.uuid4().hex[:8]}"))


def _require_staff(user) -> None:
    if user is not None and not user.is_staff:
        raise PermissionDenied("only staff may start or change runs")
