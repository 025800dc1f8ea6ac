"""Reads for runs: who sees which, the run page's figures, the leaderboard, CLI summaries."""

from __future__ import annotations

import json
import operator
import re
import time
from dataclasses import dataclass
from functools import reduce

from django.db.models import Prefetch, Q, QuerySet
from django.db.models.fields.json import KeyTransform
from django.http import Http404
from django.utils.translation import gettext_lazy

from annotation.selectors import submissions_visible_to
from occiportal.models import Partner
from training.jobs.contract import METRICS, REWARD_METRICS, Heartbeat
from training.models import BaseModel, EvaluationResult, EvaluationRun, RunEvent, Snapshot, TrainingRun
from training.services.lineage import WithdrawnShare, snapshot_withdrawn_share
from training.services.result_deltas import result_deltas


def runs_visible_to(user) -> QuerySet[TrainingRun]:
    """Staff see every run; everyone else only published ones."""
    runs = TrainingRun.objects.select_related("snapshot", "base_model")
    return runs if user.is_authenticated and user.is_staff else runs.filter(published=True)


def access_training_run(user, run_id) -> TrainingRun:
    try:
        return runs_visible_to(user).get(pk=run_id)
    except (TrainingRun.DoesNotExist, ValueError, TypeError):
        raise Http404("No such run.")


def access_evaluation(user, evaluation_id) -> EvaluationRun:
    """Staff see every evaluation; others those of published runs."""
    evaluations = EvaluationRun.objects.all()
    if not user.is_staff:
        evaluations = evaluations.filter(training_run__published=True)
    try:
        return evaluations.get(pk=evaluation_id)
    except (EvaluationRun.DoesNotExist, ValueError, TypeError):
        raise Http404("No such evaluation.")


def public_results(evaluation: EvaluationRun, raw: bytes) -> bytes:
    """An evaluation's lm-evaluation-harness results JSON without the places it names on the servers.

    The job writes the checkpoint folder it loaded as the model's name (and in
    ``model_args``) and each suite's folder as ``dataset_path``; the public
    read the run's name and the suite's instead. Any other string that looks
    like a path or a URI is dropped.
    """
    data = json.loads(raw)
    label = evaluation.training_run.job_id if evaluation.training_run_id else evaluation.job_id
    suites = {f"{r.task}_{r.language}": r.suite.name for r in evaluation.results.select_related("suite") if r.suite}
    for key in ("model_name", "model_name_sanitized"):
        if key in data:
            data[key] = label
    config = data.get("config")
    if isinstance(config, dict) and isinstance(config.get("model_args"), str):
        config["model_args"] = re.sub(r"(^|,)pretrained=[^,]*", rf"\1pretrained={label}", config["model_args"])
    for task, entry in (data.get("configs") or {}).items():
        if isinstance(entry, dict) and "dataset_path" in entry:
            entry["dataset_path"] = suites.get(task) or (entry.get("tag") or [None])[0]
    return json.dumps(_without_locations(data), indent=2).encode()


_LOCATION = re.compile(r"^(/|~|\\\\|[A-Za-z]:[\\/]|[A-Za-z][A-Za-z0-9+.-]*://)")


def _without_locations(value):
    if isinstance(value, dict):
        return {key: _without_locations(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_locations(item) for item in value]
    if isinstance(value, str) and (_LOCATION.match(value) or "pretrained=/" in value):
        return None
    return value


def loss_points(run: TrainingRun) -> list[tuple[int, float]]:
    """(step, loss) from progress events, in step order; a resumed attempt's steps replace the earlier ones.

    Only the two numbers leave the database, not the events' payloads: the run page asks every few seconds.
    """
    rows = (RunEvent.objects.filter(run=run, kind="progress").order_by("attempt", "seq")
            .values_list(KeyTransform("step", "payload"), KeyTransform("loss", "payload")))  # fmt: skip
    by_step = {step: loss for step, loss in rows if step is not None and loss is not None}
    return sorted(by_step.items())


PROGRESS_METRIC_LABELS = {
    "reward_accuracy": gettext_lazy("Reward accuracy"),
    "reward_margin": gettext_lazy("Reward margin"),
    "chosen_reward": gettext_lazy("Reward of the chosen answers"),
    "rejected_reward": gettext_lazy("Reward of the rejected answers"),
}


def progress_metrics(run: TrainingRun) -> list[dict]:
    """The last progress window's figures beside the loss (a DPO run's rewards), as the run page lists them."""
    figures = run.progress_metrics or {}
    return [{"name": name, "label": PROGRESS_METRIC_LABELS[name], "value": figures[name]}
            for name in REWARD_METRICS if figures.get(name) is not None]  # fmt: skip


def run_events_latest(run: TrainingRun, limit: int = 8) -> list[RunEvent]:
    """The run's latest events but heartbeats, newest first: what the staff's run page lists."""
    return list(run.events.exclude(kind=Heartbeat.name).order_by("-attempt", "-seq")[:limit])


# The loss chart's plot area inside its SVG viewBox: room on the left and below for the axis labels.
CHART = {"left": 70, "top": 10, "width": 600, "height": 160, "bottom": 40}


def loss_chart(points: list[tuple[int, float]]) -> dict | None:
    """What the run page's server-side SVG draws: the polyline, the axes and their min/max labels.

    Coordinates are in the viewBox ``0 0 view_width view_height``; a single step
    is drawn as a dot (a polyline of one point shows nothing). None without points.
    """
    if not points:
        return None
    left, top, width, height = CHART["left"], CHART["top"], CHART["width"], CHART["height"]
    steps, losses = [s for s, _ in points], [v for _, v in points]
    s0, s1, low, high = min(steps), max(steps), min(losses), max(losses)
    sx = width / (s1 - s0) if s1 > s0 else 0
    sy = height / (high - low) if high > low else 0
    xy = [(left + ((s - s0) * sx if sx else width / 2), top + (height - (v - low) * sy if sy else height / 2))
          for s, v in _thinned(points, width)]  # fmt: skip
    return {
        "points": " ".join(f"{x:.1f},{y:.1f}" for x, y in xy), "dot": xy[0] if len(xy) == 1 else None,
        "step_min": s0, "step_max": s1, "loss_min": low, "loss_max": high,
        "left": left, "top": top, "right": left + width, "bottom": top + height,
        "middle_x": left + width // 2, "middle_y": top + height // 2,
        "view_width": left + width + 20, "view_height": top + height + CHART["bottom"],
    }  # fmt: skip


def _thinned(points: list[tuple[int, float]], columns: int) -> list[tuple[int, float]]:
    """At most two points per pixel column, its lowest and highest loss, in step order: a 100,000-step
    run draws as many points as the chart has pixels, and a spike stays visible."""
    if len(points) <= 2 * columns:
        return points
    s0, span = points[0][0], points[-1][0] - points[0][0]
    extremes: dict[int, tuple[tuple[int, float], tuple[int, float]]] = {}
    for point in points:
        column = (point[0] - s0) * (columns - 1) // span
        low, high = extremes.get(column, (point, point))
        extremes[column] = (min(low, point, key=_loss), max(high, point, key=_loss))
    return sorted({point for pair in extremes.values() for point in pair})


def _loss(point: tuple[int, float]) -> float:
    return point[1]


def latest_results(*, training_run=None, base_model=None) -> dict[tuple[str, str], EvaluationResult]:
    """{(language, task): result} over the succeeded evaluations of a run or base model; the latest wins."""
    filters = Q(evaluation__training_run=training_run) if training_run else Q(evaluation__base_model=base_model, evaluation__training_run=None)
    results = EvaluationResult.objects.filter(filters, evaluation__status=EvaluationRun.Status.SUCCEEDED)
    return {(r.language, r.task): r for r in results.select_related("suite").order_by("evaluation_id")}


def evaluation_table(run: TrainingRun) -> list[dict]:
    """Per language and task: the run's metrics and the base model's, each ± its stderr, and the deltas
    (``result_deltas.Delta``: significant only where the paired bootstrap's interval excludes zero)."""
    mine, base = latest_results(training_run=run), latest_results(base_model=run.base_model)
    rows = []
    for key, result in sorted(mine.items()):
        other = base.get(key)
        deltas = result_deltas(result, other) if other else {}
        metrics = [
            {**score_cell(result, name), "base": score_cell(other, name) if other else None, "delta": deltas.get(name)}
            for name in METRICS if getattr(result, name) is not None
        ]  # fmt: skip
        rows.append({
            "language": key[0], "task": key[1], "suite": result.suite.name if result.suite else "",
            "provenance": result.get_provenance_display(), "n_items": result.n_items, "n_pairs": result.n_pairs,
            "n_docs": result.n_docs, "metrics": metrics,
        })  # fmt: skip
    return rows


def score_cell(result: EvaluationResult, name: str) -> dict:
    """A metric as the pages show it: its value, its stderr and how many decimals (perplexities: 2)."""
    return {"name": name, "value": getattr(result, name), "stderr": getattr(result, f"{name}_stderr"),
            "digits": 2 if name in ("word_perplexity", "byte_perplexity") else 4}  # fmt: skip


def run_lineage(run: TrainingRun, user) -> list[dict]:
    """Snapshot → partners → submissions, as ``user`` may see it.

    Which partners' data went into a model is public, with their languages;
    a submission (its number, name and records) only where ``user`` may open
    it: all for staff, a partner member their own partners'. Others' would
    be links to a 404 that still tell which submissions exist.
    """
    rows = list(run.snapshot.lineage.values(
        "partner__name", "submission_id", "submission__original_name", "language", "records"
    ).order_by("partner__name", "submission_id"))  # fmt: skip
    openable = set(
        submissions_visible_to(user).filter(pk__in={r["submission_id"] for r in rows}).values_list("pk", flat=True)
    )
    partners: dict[str, dict] = {}
    for row in rows:
        name = row["partner__name"]
        entry = partners.setdefault(name, {"partner": name, "languages": set(), "submissions": []})
        entry["languages"].add(row["language"])
        if row["submission_id"] in openable:
            entry["submissions"].append(row)
    return [{**entry, "languages": sorted(entry["languages"])} for entry in partners.values()]


# The leaderboard's metric columns, in order.
LEADERBOARD_METRICS = ("acc", "acc_norm", "pref_acc", "word_perplexity", "bits_per_byte")


def leaderboard(language: str | None = None) -> list[EvaluationResult]:
    """Results of published runs, best first per language and task, with the suite's provenance."""
    results = EvaluationResult.objects.filter(
        evaluation__training_run__published=True, evaluation__status=EvaluationRun.Status.SUCCEEDED
    ).select_related("evaluation__training_run__base_model", "evaluation__training_run__snapshot", "suite")
    if language:
        results = results.filter(language=language)
    def accuracy(r):
        return next((value for value in (r.acc, r.pref_acc) if value is not None), 0)

    return sorted(results, key=lambda r: (r.language, r.task, -accuracy(r), r.word_perplexity or 0))


def leaderboard_cells(results: list[EvaluationResult]) -> dict[int, list[dict]]:
    """``{result id: [score_cell + "delta"]}`` in LEADERBOARD_METRICS' order, each run against its base model's
    latest result on the same language and task (one query for all the base models)."""
    if not results:
        return {}
    base_ids = {r.evaluation.training_run.base_model_id for r in results}
    latest = {}
    for other in EvaluationResult.objects.filter(
        evaluation__base_model__in=base_ids, evaluation__training_run=None, evaluation__status=EvaluationRun.Status.SUCCEEDED,
    ).select_related("evaluation").order_by("evaluation_id"):  # fmt: skip
        latest[(other.evaluation.base_model_id, other.language, other.task)] = other
    cells = {}
    for r in results:
        base = latest.get((r.evaluation.training_run.base_model_id, r.language, r.task))
        deltas = result_deltas(r, base) if base else {}
        cells[r.pk] = [{**score_cell(r, name), "delta": deltas.get(name)} for name in LEADERBOARD_METRICS]
    return cells


def leaderboard_languages() -> list[str]:
    return list(
        EvaluationResult.objects.filter(evaluation__training_run__published=True)
        .values_list("language", flat=True).distinct().order_by("language")
    )  # fmt: skip


# -- what partners' data went into ---------------------------------------------------


@dataclass(frozen=True)
class RunWithdrawn:
    """A run trained on a snapshot that holds withdrawn data, and what became of it."""

    held: WithdrawnShare
    published: bool
    retrained_by: TrainingRun | None

    @property
    def state(self) -> str:
        """"retrained", "unpublished", or "published": still public, so marked wherever it shows."""
        if self.retrained_by is not None:
            return "retrained"
        return "published" if self.published else "unpublished"

    @property
    def marked(self) -> bool:
        return self.state == "published"


def runs_withdrawn(runs) -> dict[int, RunWithdrawn]:
    """``{run id: RunWithdrawn}`` for those of ``runs`` whose snapshot holds withdrawn data, as stored on the snapshots.

    A run counts as retrained once a later version of its snapshot, free of
    withdrawn data, has given a succeeded run of the same base model and method.
    However many runs: each snapshot is read once, and one query finds the
    runs that may have retrained them.
    """
    runs = list(runs)
    held = _WithdrawnShares()
    shares = held.of([run.snapshot for run in runs])
    marked = [run for run in runs if shares[run.snapshot_id]]
    if not marked:
        return {}
    candidates = _retrainings(marked)
    held.of([other.snapshot for other in candidates])
    return {
        run.pk: RunWithdrawn(held=held.share(run.snapshot_id), published=run.published,
                             retrained_by=_retrained_by(run, candidates, held))
        for run in marked
    }  # fmt: skip


class _WithdrawnShares:
    """What snapshots hold of withdrawn data, as stored on them (``snapshot_withdrawn_share``), each asked once."""

    def __init__(self):
        self.shares: dict[int, WithdrawnShare] = {}

    def of(self, snapshots) -> dict[int, WithdrawnShare]:
        for snapshot in snapshots:
            if snapshot.pk not in self.shares:
                self.shares[snapshot.pk] = snapshot_withdrawn_share(snapshot)
        return {s.pk: self.shares[s.pk] for s in snapshots}

    def share(self, snapshot_id: int) -> WithdrawnShare:
        return self.shares[snapshot_id]


def _retrainings(marked: list[TrainingRun]) -> list[TrainingRun]:
    """Succeeded runs, oldest first, of a marked run's base model and method on a later version of its snapshot."""
    earliest: dict[tuple, int] = {}
    for run in marked:
        key = _retraining_key(run)
        earliest[key] = min(run.snapshot.version, earliest.get(key, run.snapshot.version))
    same = reduce(operator.or_, (Q(base_model=base, method=method, snapshot__name=name, snapshot__version__gt=version)
                                 for (base, method, name), version in earliest.items()))  # fmt: skip
    return list(TrainingRun.objects.filter(same, status=TrainingRun.Status.SUCCEEDED)
                .select_related("snapshot").order_by("created_at"))  # fmt: skip


def _retrained_by(run: TrainingRun, candidates: list[TrainingRun], held: _WithdrawnShares) -> TrainingRun | None:
    return next((
        other for other in candidates
        if _retraining_key(other) == _retraining_key(run) and other.snapshot.version > run.snapshot.version
        and not held.share(other.snapshot_id)
    ), None)  # fmt: skip


def _retraining_key(run: TrainingRun) -> tuple:
    return run.base_model_id, run.method, run.snapshot.name


def runs_with_partner_data(user, partner) -> QuerySet[TrainingRun]:
    """Runs (visible to ``user``) trained on a snapshot holding any of ``partner``'s submissions."""
    return runs_visible_to(user).filter(snapshot__lineage__partner=partner).distinct().order_by("-created_at")


def runs_containing_submission(user, submission) -> QuerySet[TrainingRun]:
    """Runs (visible to ``user``) whose snapshot holds ``submission``: what a withdrawal cannot take back."""
    return runs_visible_to(user).filter(snapshot__lineage__submission=submission).distinct().order_by("-created_at")


def partner_scores(runs, languages) -> list[EvaluationResult]:
    """Those runs' latest results in the partner's languages."""
    return list(
        EvaluationResult.objects.filter(
            evaluation__training_run__in=list(runs), evaluation__status=EvaluationRun.Status.SUCCEEDED,
            language__in=list(languages),
        ).select_related("evaluation__training_run", "suite").order_by("language", "task", "-evaluation__pk")
    )  # fmt: skip


def access_partner_for_results(user, slug):
    """A partner ``user`` belongs to (any, for staff)."""
    partners = Partner.objects.all() if user.is_staff else Partner.objects.filter(memberships__user=user)
    try:
        return partners.get(slug=slug)
    except Partner.DoesNotExist:
        raise Http404("No such partner.")


def base_models_with_runs():
    """Every base model, newest first, with the runs that started from it (``model.runs.all``, newest first)."""
    runs = TrainingRun.objects.order_by("-created_at").select_related("snapshot")
    return BaseModel.objects.order_by("-created_at").prefetch_related(Prefetch("runs", queryset=runs))


def manifest_diff(a: dict, b: dict, prefix: str = "") -> dict[str, tuple]:
    """Flattened keys whose values differ between two manifests: ``{"job_spec.train.seed": (1, 2)}``."""
    diff = {}
    for key in sorted(set(a) | set(b)):
        left, right, name = a.get(key), b.get(key), f"{prefix}{key}"
        if isinstance(left, dict) and isinstance(right, dict):
            diff.update(manifest_diff(left, right, f"{name}."))
        elif left != right:
            diff[name] = (left, right)
    return diff


# -- for the command line ------------------------------------------------------------


def job_wait(*, job, timeout: float, interval: float = 0.5):
    """Poll the job's row until it is no longer queued or running."""
    deadline = time.monotonic() + timeout
    while True:
        job.refresh_from_db()
        if not job.is_active or time.monotonic() > deadline:
            return job
        time.sleep(interval)


def run_summary(run: TrainingRun) -> dict:
    return {
        "run": run.pk, "status": run.status, "steps": run.step, "total_steps": run.total_steps,
        "final_loss": run.loss, "tokens_per_second": run.tokens_per_second, "progress_metrics": run.progress_metrics,
        "checkpoint": run.checkpoint_path or None, "attempt": run.attempt, "failure": run.failure or None,
        "evaluations": list(run.evaluations.values_list("pk", flat=True)),
    }  # fmt: skip


# What only staff read of a run: where its files are on the servers and what went wrong there.
STAFF_ONLY_SUMMARY = ("checkpoint", "failure")


def run_summary_for(user, run: TrainingRun) -> dict:
    """``run_summary`` without the checkpoint's location and the failure text, but for staff."""
    summary = run_summary(run)
    if is_staff(user):
        return summary
    return {key: value for key, value in summary.items() if key not in STAFF_ONLY_SUMMARY}


def is_staff(user) -> bool:
    return bool(user.is_authenticated and user.is_staff)


def evaluation_summary(evaluation: EvaluationRun) -> dict:
    results: dict = {}
    for r in evaluation.results.all():
        entry = {key: getattr(r, key) for name in METRICS for key in (name, f"{name}_stderr")}
        results.setdefault(r.language, {})[r.task] = {**entry, "n": r.n, "provenance": r.provenance}
    return {"evaluation": evaluation.pk, "status": evaluation.status, "model": evaluation.model_path,
            "failure": evaluation.failure or None, "results": results}  # fmt: skip
