"""What GPU jobs report, written to the database; and the sweeper for jobs that went quiet.

Events arrive as ``record_event`` tasks on the ``default`` queue, maybe twice,
maybe out of order (two portal workers). So: one row per ``(job, attempt,
seq)``; state only moves forward (queued → running → a final status);
progress never goes back to an earlier step; events of an older attempt, a
cancelled job or an unknown job are refused and logged, and so is an event
the contract (training/jobs/contract.py) does not read: unknown kind or
schema version, unknown field, a value of the wrong type.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from occiportal.broker import unsent_resend
from training.jobs.contract import (
    METRICS, Checkpoint, ContractError, Done, Error, Event, EventError, ItemScores, Progress, Start, event_from_dict,
)  # fmt: skip
from training.models import EvaluationResult, EvaluationRun, RunEvent, TrainingRun
from training.models.runs import ACTIVE, JobStatus

from .runs import evaluation_run_create, job_by_id, job_dispatch, job_send

log = logging.getLogger(__name__)


def run_event_record(*, run_id: str, seq: int, event: dict) -> bool:
    """Record one event of job ``run_id`` ("run-<pk>" or "eval-<pk>") as JSON gives it; False when refused or a repeat."""
    try:
        parsed = event_from_dict(event)
    except EventError as error:
        log.warning("refused event %s of %s: %s", seq, run_id, error)
        return False
    with transaction.atomic():
        job = job_by_id(run_id, for_update=True)
        if job is None:
            log.warning("refused event %s of unknown job %s", seq, run_id)
            return False
        attempt = parsed.attempt or job.attempt
        if job.status == JobStatus.CANCELLED or attempt != job.attempt:
            log.warning("refused event %s of %s: job is %s, attempt %s of %s", seq, run_id, job.status, attempt, job.attempt)
            return False
        field = "run" if isinstance(job, TrainingRun) else "evaluation"
        _, created = RunEvent.objects.get_or_create(
            **{field: job}, attempt=attempt, seq=seq, defaults={"kind": parsed.name, "payload": parsed.to_dict()}
        )
        if created:
            _apply(job, parsed)
        return created


def runs_sweep(*, now=None) -> int:
    """Jobs whose lease ran out (no event for too long) fail this attempt and are resumed or given up;
    queued attempts the broker never took are sent again. Returns how many jobs it touched.

    Rows are taken with SKIP LOCKED and checked again under the lock, so two
    sweepers at once touch each job once.
    """
    now = now or timezone.now()
    return _expired_swept(now) + _unsent_sent(now)


def _expired_swept(now) -> int:
    swept = 0
    for model in (TrainingRun, EvaluationRun):
        for pk in model.objects.filter(status__in=ACTIVE, lease_until__lt=now).values_list("pk", flat=True):
            with transaction.atomic():
                job = model.objects.select_for_update(skip_locked=True).filter(
                    pk=pk, status__in=ACTIVE, lease_until__lt=now
                ).first()
                if job is None:
                    continue
                last = job.heartbeat_at.isoformat(timespec="seconds") if job.heartbeat_at else "never"
                reason = "the job never started" if job.status == JobStatus.QUEUED else f"no heartbeat since {last}"
                _attempt_failed(job, reason, resumable=True)
                swept += 1
    return swept


def _unsent_sent(now) -> int:
    # A committed attempt whose message never reached the broker (it was away,
    # or the process died before sending): send the same attempt again.
    return sum(unsent_resend(model.objects.filter(status=JobStatus.QUEUED), field="unsent_since", now=now,
                             send=lambda job: job_send(job=job)) for model in (TrainingRun, EvaluationRun))


# -- applying one event ------------------------------------------------------------


def _apply(job, event: Event) -> None:
    now = timezone.now()
    if not job.is_active:  # a late event of a finished job: kept as a row, changes nothing
        return
    if isinstance(event, Done):
        _succeeded(job, event, now)
    elif isinstance(event, Error):
        job.log_tail = "\n".join(event.log_tail)
        _attempt_failed(job, event.message or "the job failed", resumable=event.resumable)
        return
    else:
        job.heartbeat_at = now
        job.lease_until = now + timedelta(seconds=settings.TRAINING["HEARTBEAT_TIMEOUT_SECONDS"])
        if isinstance(event, Start):
            job.status = JobStatus.RUNNING
            job.started_at = job.started_at or now
            job.manifest = {**job.manifest, "versions": event.versions, "start": event.to_dict()}
        if isinstance(job, TrainingRun):
            _training_progress(job, event)
    job.save()


def _training_progress(run: TrainingRun, event: Event) -> None:
    if isinstance(event, Start):
        run.total_steps = event.total_steps or run.total_steps
        run.step = max(run.step, event.start_step or 0)
    elif isinstance(event, Progress) and event.step is not None and event.step >= run.step:
        run.step, run.total_steps = event.step, event.total_steps or run.total_steps
        run.loss, run.learning_rate = event.loss, event.lr
        run.tokens_per_second, run.eta_seconds = event.tokens_per_second, event.eta_seconds
        run.progress_metrics = event.metrics() or run.progress_metrics
    elif isinstance(event, Checkpoint):
        run.checkpoint_path = event.path


def _succeeded(job, event: Done, now) -> None:
    job.status, job.finished_at, job.lease_until = JobStatus.SUCCEEDED, now, None
    if job.failure:  # an earlier attempt's failure is history now, not the message of a run that succeeded
        job.manifest = {**job.manifest, "earlier_failures": [*job.manifest.get("earlier_failures", []), job.failure]}
        job.failure = ""
    job.log_tail = "\n".join(event.log_tail)
    if isinstance(job, TrainingRun):
        job.step = job.step if event.steps is None else event.steps
        job.loss = job.loss if event.final_loss is None else event.final_loss
        job.tokens_per_second = event.tokens_per_second or job.tokens_per_second
        job.checkpoint_path = event.checkpoint or job.checkpoint_path
        job.eta_seconds = 0
        job.save()
        _evaluate_after_training(job)
    else:
        _store_results(job, event.scores)
        job.manifest = {**job.manifest, "results_path": event.results_path, "results_uri": event.results_uri}


def _evaluate_after_training(run: TrainingRun) -> None:
    suites = list(run.eval_suites.all())
    if not suites:
        return
    try:
        evaluation_run_create(created_by=None, model_path=run.checkpoint_path, suites=suites, training_run=run)
        # The run page compares with the base model: measure it where it has no numbers yet.
        base = run.base_model
        missing = [suite for suite in suites if not _base_evaluated(base, suite)]
        if missing and settings.TRAINING.get("EVALUATE_BASE_MODEL"):
            evaluation_run_create(created_by=None, model_path=base.source, suites=missing, base_model=base)
    except ValidationError:
        log.exception("could not start the evaluation of %s", run)


def _base_evaluated(base, suite) -> bool:
    evaluations = EvaluationRun.objects.filter(base_model=base, training_run=None, suites=suite)
    return evaluations.exclude(status__in=[JobStatus.FAILED, JobStatus.CANCELLED]).exists()


def _store_results(evaluation: EvaluationRun, scores: dict) -> None:
    suites = {suite.name: suite for suite in evaluation.suites.all()}
    by_folder = {suite.path.rstrip("/").rsplit("/", 1)[-1]: suite for suite in suites.values()}
    for language, tasks in scores.items():
        for task, entry in tasks.items():
            suite = by_folder.get(entry.get("suite")) or suites.get(entry.get("suite"))
            metrics = {key: entry.get(key) for name in METRICS for key in (name, f"{name}_stderr")}
            # The job counts items, pairs and documents together in ``n``; each kind reports its own count.
            n, n_docs, n_pairs = entry.get("n", 0), entry.get("n_docs") or 0, entry.get("n_pairs") or 0
            EvaluationResult.objects.update_or_create(
                evaluation=evaluation, language=language, task=task,
                defaults={**metrics, "suite": suite, "n": n, "n_items": n - n_docs - n_pairs, "n_pairs": n_pairs,
                          "n_docs": n_docs, "data_sha256": entry.get("data_sha256") or "",
                          "item_scores": _item_scores(entry.get("items"), evaluation),
                          "provenance": suite.provenance if suite else "native"},
            )  # fmt: skip


def _item_scores(items, evaluation: EvaluationRun) -> dict:
    """The per-item scores as the contract reads them; none (no paired comparison) when malformed."""
    if items is None:
        return {}
    try:
        return ItemScores.from_dict(items).to_dict()
    except ContractError as error:
        log.warning("%s sent item scores the contract does not read: %s", evaluation.job_id, error)
        return {}


def _attempt_failed(job, reason: str, *, resumable: bool) -> None:
    """Resume (a new attempt from the last checkpoint) or give up with a reason; the caller holds the lock."""
    now = timezone.now()
    if resumable and job.attempt < job.max_attempts:
        job.failure = f"attempt {job.attempt} of {job.max_attempts} failed: {reason}; resuming from the last checkpoint"
        job.attempt += 1
        job.heartbeat_at = None
        try:
            job_dispatch(job=job)  # writes the new ATTEMPT marker: a worker still running the old one stops it
            return
        except ValidationError as error:  # e.g. storage roots changed since the first attempt
            reason = f"{reason}; cannot resume: {'; '.join(error.messages)}"
            resumable = False
    tried = f" after {job.attempt} attempts" if resumable else ""
    job.status, job.finished_at, job.lease_until = JobStatus.FAILED, now, None
    job.failure = f"failed{tried}: {reason}"
    job.save()
