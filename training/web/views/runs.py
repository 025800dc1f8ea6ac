"""Run pages: list, detail (progress, loss curve, log, spec, evaluation, lineage), leaderboard.

Thin: access check, one service or selector, render. Unpublished runs answer
404 to everyone but staff.
"""

import io
import json
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from training.web.run_forms import TrainingRunForm
from training.run_selectors import (
    access_evaluation, access_partner_for_results, access_training_run, evaluation_table, is_staff, leaderboard,
    leaderboard_cells, leaderboard_languages, loss_chart, loss_points, manifest_diff, partner_scores, progress_metrics,
    public_results, run_events_latest, run_lineage, run_summary_for, runs_visible_to, runs_with_partner_data,
    runs_withdrawn,
)  # fmt: skip
from training.selectors import snapshots_withdrawn
from training.services.run_fit import training_run_estimate
from training.services.runs import job_cancel, training_run_create, training_run_publish, training_run_rerun
from training.services.storage import evaluation_results_stored


def run_list(request):
    runs = runs_visible_to(request.user).order_by("-created_at")[:200]
    return render(request, "runs/list.html", {"runs": runs})


def run_new(request):
    """Staff only (others: 404): the form, with TrainConfig's defaults; POST dispatches the run.

    The "Estimate" button checks the run and shows its memory and time instead, creating nothing.
    """
    if not request.user.is_staff:
        raise Http404("No such page.")
    form = TrainingRunForm(request.POST or None)
    estimated, estimate = "estimate" in request.POST, None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        run_fields = {"snapshot": data["snapshot"], "base_model": data["base_model"], "method": data["method"],
                      "finetuning": data["finetuning"], "hyperparameters": form.hyperparameters(),
                      "resources": form.resources()}  # fmt: skip
        try:
            if estimated:
                estimate = training_run_estimate(**run_fields)
            else:
                run = training_run_create(created_by=request.user, **run_fields, eval_suites=data["eval_suites"],
                                          withdrawn_reason=data["withdrawn_reason"])  # fmt: skip
                messages.success(request, run_queued_message(run))
                return redirect("run_detail", run.pk)
        except ValidationError as error:
            for field, problems in getattr(error, "message_dict", {None: error.messages}).items():
                form.add_error(field if field in form.fields else None, problems)
    context = {"form": form, "estimated": estimated and not form.errors, "estimate": estimate,
               "withdrawn": snapshots_withdrawn()}  # fmt: skip
    return render(request, "runs/new.html", context, status=400 if form.errors else 200)


def run_queued_message(run) -> str:
    """What staff read once a run is queued: with the estimate, when there is one (services/run_fit.py)."""
    estimate = run.manifest.get("estimate")
    if not estimate:
        return _("Run %(id)s is queued.") % {"id": run.pk}
    return _("Run %(id)s is queued; estimate: about %(memory)s GB per GPU and %(hours)s hours.") % {
        "id": run.pk, "memory": estimate["memory_gb_per_gpu"], "hours": estimate["hours"],
    }


def run_detail(request, run_id):
    """Everyone who may see the run: model, snapshot, partners, scores, progress. Staff also: where its
    files are, the log, failures and the job spec; partner members also their own partners' submissions.

    While the run is queued or running, static/js/run_live.js swaps in the live regions from ``run_status``."""
    run = access_training_run(request.user, run_id)
    staff = is_staff(request.user)
    return render(request, "runs/detail.html", {
        **_live_context(run, staff),
        "job_spec": json.dumps(run.manifest.get("job_spec", {}), indent=2, sort_keys=True) if staff else "",
        "lineage": run_lineage(run, request.user),
        "withdrawn": runs_withdrawn([run]).get(run.pk),
    })  # fmt: skip


# The run page's parts that change while a run goes: templates/runs/live/<name>.html, each in a [data-live] element.
LIVE_REGIONS = ("badge", "progress", "state", "evaluation")
LIVE_REGIONS_STAFF = ("actions", "events")


def run_status(request, run_id):
    """The run's summary (``run_summary_for``), whether it has finished, and the run page's live regions as HTML."""
    run = access_training_run(request.user, run_id)
    staff = is_staff(request.user)
    context = _live_context(run, staff)
    names = LIVE_REGIONS + LIVE_REGIONS_STAFF if staff else LIVE_REGIONS
    regions = {name: render_to_string(f"runs/live/{name}.html", context, request) for name in names}
    return JsonResponse({**run_summary_for(request.user, run), "finished": not run.is_active, "regions": regions})


def _live_context(run, staff: bool) -> dict:
    points = loss_points(run)
    return {
        "run": run, "staff_view": staff, "loss_points": points, "loss_chart": loss_chart(points),
        "evaluation_rows": evaluation_table(run), "events": run_events_latest(run) if staff else [],
        "progress_metrics": progress_metrics(run),
    }  # fmt: skip


@require_POST
def run_cancel(request, run_id):
    """Staff cancel a queued or running run once they tick the confirmation (the page works without JavaScript)."""
    run = access_training_run(request.user, run_id)
    _require_staff(request.user)
    if request.POST.get("confirm") != "1":
        return HttpResponseBadRequest(_("Tick the box to confirm that the run is to be cancelled."))
    if job_cancel(user=request.user, job=run):
        messages.success(request, _("The run was cancelled."))
    return redirect("run_detail", run.pk)


PUBLISH_ACTIONS = {"publish": True, "unpublish": False}


@require_POST
def run_publish(request, run_id):
    """Staff publish a run (``action=publish``), or unpublish it (``action=unpublish``) once they tick the
    confirmation: it leaves the leaderboard. Any other or no action answers 400 and changes nothing."""
    run = access_training_run(request.user, run_id)
    _require_staff(request.user)
    action = request.POST.get("action")
    if action not in PUBLISH_ACTIONS:
        return HttpResponseBadRequest(_("Say what to do: publish or unpublish."))
    published = PUBLISH_ACTIONS[action]
    try:
        training_run_publish(
            user=request.user, run=run, published=published, confirmed=request.POST.get("confirm") == "1"
        )
    except ValidationError as error:
        messages.error(request, "; ".join(error.messages))
    else:
        messages.success(request, _("The run is published.") if published
                         else _("The run is unpublished: only staff see it now."))
    return redirect("run_detail", run.pk)


@require_POST
def run_rerun(request, run_id):
    """Staff start a new run from this run's manifest; its page opens."""
    run = access_training_run(request.user, run_id)
    _require_staff(request.user)
    try:
        again = training_run_rerun(created_by=request.user, run=run)
    except ValidationError as error:
        messages.error(request, "; ".join(error.messages))
        return redirect("run_detail", run.pk)
    messages.success(request, _("Run %(id)s is queued: a re-run of %(run)s.") % {"id": again.pk, "run": run})
    return redirect("run_detail", again.pk)


def run_compare_pick(request, run_id):
    """The run page's compare form (GET ``other``, a run id) leads to the comparison page."""
    run = access_training_run(request.user, run_id)
    _require_staff(request.user)
    other = request.GET.get("other", "").strip().removeprefix("run-")
    if not other.isdigit():
        return HttpResponseBadRequest(_("Give the number of the run to compare with."))
    return redirect("run_compare", run.pk, int(other))


def run_compare(request, run_id, other_id):
    """Staff see where two runs' manifests differ (manifests name server paths: staff only)."""
    run, other = access_training_run(request.user, run_id), access_training_run(request.user, other_id)
    _require_staff(request.user)
    differences = sorted(manifest_diff(run.manifest, other.manifest).items())
    return render(request, "runs/compare.html", {"run": run, "other": other, "differences": differences})


def _require_staff(user) -> None:
    # Before the form is read: others learn nothing from a 400 about a form they may not send.
    if not is_staff(user):
        raise PermissionDenied("Only staff change runs.")


def evaluation_results_json(request, evaluation_id):
    """The job's results in lm-evaluation-harness's results JSON layout: for staff as it wrote them, for
    others without the server paths it names (``public_results``)."""
    evaluation = access_evaluation(request.user, evaluation_id)
    filename = f"results_eval-{evaluation.pk}.json"
    path = Path(evaluation.manifest.get("results_path") or "/nonexistent")
    if path.is_file() and path.resolve().is_relative_to(Path(settings.DATA_DIR).resolve()):
        if is_staff(request.user):
            return FileResponse(path.open("rb"), content_type="application/json", filename=filename)
        data = _public_results(evaluation, path.read_bytes())
        return FileResponse(io.BytesIO(data), content_type="application/json", filename=filename)
    # A GPU host that shares no folder with the portal left it in the object store.
    data = evaluation_results_stored(evaluation)
    if data is None:
        raise Http404("No results file.")
    if not is_staff(request.user):
        data = _public_results(evaluation, data)
    return HttpResponse(data, content_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _public_results(evaluation, data: bytes) -> bytes:
    try:
        return public_results(evaluation, data)
    except (ValueError, AttributeError, TypeError):  # not the JSON a job writes: nothing to show
        raise Http404("No results file.")


def leaderboard_view(request):
    language = request.GET.get("language") or None
    results = leaderboard(language)
    withdrawn = runs_withdrawn({r.evaluation.training_run for r in results})
    cells = leaderboard_cells(results)
    return render(request, "runs/leaderboard.html", {
        "rows": [(r, withdrawn.get(r.evaluation.training_run_id), cells[r.pk]) for r in results],
        "languages": leaderboard_languages(), "language": language,
    })  # fmt: skip


@login_required
def partner_models(request, slug):
    """The models a partner's data went into, and their scores in the partner's languages."""
    partner = access_partner_for_results(request.user, slug)
    runs = runs_with_partner_data(request.user, partner).select_related("snapshot", "base_model")
    languages = set(partner.snapshot_rows.values_list("language", flat=True))
    return render(request, "runs/partner.html", {
        "partner": partner, "runs": runs, "results": partner_scores(runs, languages), "languages": sorted(languages),
    })  # fmt: skip
