"""Snapshot pages and downloads (who may see or download what: access.py) and withdrawal pages."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST, require_safe

from annotation.access import access_submission
from annotation.selectors import submissions_visible_to
from annotation.web.views.submissions import submission_detail_render

from training import selectors
from training.access import (
    access_snapshot,
    access_snapshot_file,
    access_snapshot_for_download,
    access_snapshot_for_viewing,
    snapshot_downloadable,
    snapshot_lineage_visible_to,
    snapshots_viewable_by,
)
from training.services.hub import snapshot_hub_push_refusal, snapshot_hub_push_request, snapshot_hub_repo_default
from training.services.lineage import snapshot_compare, snapshot_withdrawn_share
from training.services.snapshot_build import SnapshotRefused
from training.services.snapshots import snapshot_create
from training.services.withdrawals import (
    snapshot_withdrawals_pending, withdrawal_exposure, withdrawal_get_or_create, withdrawal_get_or_create_lines,
)  # fmt: skip
from training.services.snapshot_files import snapshot_file_response, snapshot_files
from training.snapshots.estimate import snapshot_estimate
from training.snapshots.mixture import BudgetRefused
from training.snapshots.params import ParameterError, normalise
from training.web.decorators import staff_required
from training.web.forms import SnapshotForm, WithdrawalForm


@login_required
def snapshot_list(request):
    """Every snapshot for staff; for anyone else the ready ones they may download or that hold their data."""
    if request.user.is_staff:
        snapshots = selectors.snapshots_list()
    else:
        snapshots = snapshots_viewable_by(request.user).select_related("created_by").order_by("name", "-version")
    return render(request, "snapshots/list.html", {"snapshots": snapshots})


@staff_required
def snapshot_new(request):
    """GET the form; POST with "estimate" shows what it would give; POST "build" defines and queues it."""
    form = SnapshotForm(request.POST or None)
    context = {"form": form}
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if "estimate" in request.POST:
                context["estimate"] = snapshot_estimate(normalise(form.parameters()))
            else:
                snapshot = snapshot_create(
                    name=data["name"], license=data["license"], parameters=form.parameters(), created_by=request.user,
                    description=data["description"], override_reason=data["override_reason"],
                )
                messages.success(request, _("Snapshot %(label)s is queued for building.") % {"label": snapshot.label})
                return redirect("snapshot_detail", snapshot.pk)
        except (ParameterError, ValidationError) as error:
            form.add_error(None, error.messages if isinstance(error, ValidationError) else str(error))
        except SnapshotRefused as refused:
            form.add_error(None, _("The records' licences conflict with the declared licence."))
            context["conflicts"] = refused.conflicts
        except BudgetRefused as refused:
            form.add_error(None, [_budget_refusal(s) for s in refused.shortfalls])
    return render(request, "snapshots/new.html", context, status=400 if form.errors else 200)


def _budget_refusal(shortfall: dict) -> str:
    figures = {**shortfall, "budget": intcomma(shortfall["budget"]), "available": intcomma(shortfall["available"])}
    return _("%(language)s: a budget of %(budget)s tokens needs more than %(cap)s repeats of a document; "
             "%(available)s tokens are available within them.") % figures


@login_required
def snapshot_detail(request, snapshot_id):
    snapshot = access_snapshot_for_viewing(request.user, snapshot_id)
    context = {"snapshot": snapshot, "lineage": snapshot_lineage_visible_to(request.user, snapshot),
               "can_download": snapshot_downloadable(request.user, snapshot), "withdrawn": snapshot_withdrawn_share(snapshot),
               "withdrawn_counting": snapshot.status == "ready" and snapshot_withdrawals_pending(snapshot)}
    if request.user.is_staff:
        context["others"] = selectors.snapshots_list().filter(name=snapshot.name, status="ready").exclude(pk=snapshot.pk)
        context["runs"] = selectors.snapshot_runs(snapshot)
        context["hub_can_push"] = snapshot_hub_push_refusal(snapshot) is None
        context["hub_repo_default"] = snapshot_hub_repo_default(snapshot)
    return render(request, "snapshots/detail.html", context)


@staff_required
@require_POST
def snapshot_hub_push_view(request, snapshot_id):
    """Staff queue a push to a private Hub dataset repository; the snapshot's page follows it."""
    snapshot = access_snapshot(request.user, snapshot_id)
    repo_id = request.POST.get("repo_id", "").strip()
    try:
        snapshot_hub_push_request(snapshot=snapshot, repo_id=repo_id, requested_by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("%(label)s is queued for %(repo)s.") % {"label": snapshot.label, "repo": repo_id})
    return redirect("snapshot_detail", snapshot.pk)


@require_GET
@never_cache
@login_required
def snapshot_status(request, snapshot_id):
    snapshot = access_snapshot_for_viewing(request.user, snapshot_id)
    return JsonResponse({"id": snapshot.pk, "status": snapshot.status, "status_display": snapshot.get_status_display(),
                         "progress": snapshot.progress, "finished": snapshot.is_finished})


@login_required
def snapshot_compare_view(request, snapshot_id, other_id):
    new, old = access_snapshot(request.user, snapshot_id), access_snapshot(request.user, other_id)
    if not (old.status == new.status == "ready"):
        raise Http404("Only ready snapshots can be compared.")
    return render(request, "snapshots/compare.html", {"diff": snapshot_compare(old=old, new=new), "old": old, "new": new})


@login_required
def snapshot_files_view(request, snapshot_id):
    """The files of a snapshot one may download: card, manifest and shards, with sizes and sha256s."""
    snapshot = access_snapshot_for_download(request.user, snapshot_id)
    return render(request, "snapshots/files.html", {"snapshot": snapshot, "files": snapshot_files(snapshot)})


@require_safe
@login_required
def snapshot_file(request, snapshot_id, path):
    """One file the manifest lists, GET or HEAD, with byte ranges so downloads resume and readers stream."""
    snapshot, file = access_snapshot_file(request.user, snapshot_id, path)
    return snapshot_file_response(request, snapshot, file)


@staff_required
def withdrawal_list_staff(request):
    rows = [(w, withdrawal_exposure(w)) for w in selectors.withdrawals_visible_to(request.user)[:200]]
    return render(request, "snapshots/withdrawals.html", {"rows": rows, "staff_view": True})


@login_required
def withdrawal_list(request):
    """A partner's own withdrawals, the snapshots holding them, and a form to withdraw more."""
    if request.method == "POST":
        return _withdraw(request, access_submission(request.user, request.POST.get("submission")))
    mine = selectors.withdrawals_visible_to(request.user).filter(partner__memberships__user=request.user)
    rows = [(w, withdrawal_exposure(w)) for w in mine[:200]]
    submissions = submissions_visible_to(request.user).filter(partner__memberships__user=request.user)
    return render(request, "snapshots/withdrawals.html",
                  {"rows": rows, "staff_view": False, "submissions": submissions[:500], "form": WithdrawalForm()})


@require_POST
@login_required
def submission_withdraw(request, submission_id):
    return _withdraw(request, access_submission(request.user, submission_id), inline=True)


def _withdraw(request, submission, *, inline=False):
    """Withdraw what the form names; with ``inline``, a typed line that names no record is answered beside its field."""
    form = WithdrawalForm(request.POST)
    if not form.is_valid():
        if not form.non_field_errors():
            raise Http404("Bad request.")
        messages.error(request, " ".join(form.non_field_errors()))
        return redirect("submission_detail", submission.pk)
    lines, reason = form.cleaned_data["lines"], form.cleaned_data["reason"]
    try:
        if lines:
            done = withdrawal_get_or_create_lines(user=request.user, submission=submission, lines=lines, reason=reason)
            withdrawal, created = done[0][0], any(created for _withdrawal, created in done)
        else:
            withdrawal, created = withdrawal_get_or_create(user=request.user, submission=submission, reason=reason)
    except ValidationError as error:
        if inline and form.cleaned_data["line"] and not form.cleaned_data["picked"]:
            form.add_error("line", error)
            return submission_detail_render(request, submission, withdraw_form=form, status=400)
        messages.error(request, " ".join(error.messages))
        return redirect("submission_detail", submission.pk)
    if created:
        messages.success(request, _("Withdrawn. No later snapshot will contain it."))
    elif withdrawal.record_id is not None:
        messages.info(request, _("This record was already withdrawn. Nothing changed."))
    else:
        messages.info(request, _("This submission was already withdrawn. Nothing changed."))
    return redirect("withdrawals")
