"""A partner's own pages: dashboard, upload, and a submission's figures."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from annotation import review_selectors, selectors
from annotation.figure_selectors import FIGURES, submission_lines, submissions_openable
from annotation.access import access_partner_for_submitting, access_submission
from annotation.services.submissions import submission_create
from annotation.services.uploads import submission_create_from_upload
from annotation.web.forms import SubmissionForm
from annotation.web.presenters import (
    FIGURE_TITLES, REDACTION_LABELS, failure_text, grand_totals, line_rows, problem_rows, quality_charts, record_rows,
    rejection_rows, repeated_submission, status_payload,
)
from training.selectors import submission_data_uses

SUBMISSIONS_PER_PAGE = 25


@login_required
def dashboard(request):
    visible = selectors.submissions_visible_to(request.user)
    page = Paginator(visible, SUBMISSIONS_PER_PAGE).get_page(request.GET.get("page"))
    totals = selectors.totals_per_language(visible)
    partners = selectors.partners_of(request.user)
    context = {
        "page": page,
        "totals": totals,
        "grand": grand_totals(totals),
        "partners": partners,
        # Someone who only annotates comes here after signing in: her queues, not an upload she cannot make.
        "queues": [] if partners else review_selectors.queues_visible_to(request.user).filter(active=True),
    }
    return render(request, "dashboard.html", context)


@login_required
def submission_new(request):
    form = SubmissionForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        partner = access_partner_for_submitting(request.user, data["partner"].slug)
        fields = {
            "uploader": request.user, "partner": partner, "language": data["language"], "kind": data["kind"],
            "license": data["license"], "source": data["source"], "consent": data["consent"],
        }  # fmt: skip
        try:
            if data["upload"]:
                submission = submission_create_from_upload(upload=data["upload"], **fields)
            else:
                submission = submission_create(**fields, file=data["file"])
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Upload received. Its checks are running now."))
            return _created(request, submission)
    template = "submissions/_form.html" if _is_xhr(request) else "submissions/new.html"
    status = 400 if form.errors else 200
    return render(request, template, {"form": form}, status=status)


@login_required
def submission_detail(request, submission_id):
    return submission_detail_render(request, access_submission(request.user, submission_id))


def submission_detail_render(request, submission, *, withdraw_form=None, status=200):
    """The submission's page for a submission already fetched through ``access_submission``.

    ``withdraw_form`` is a bound withdrawal form whose errors show beside its fields (answered with ``status``).
    """
    context = {
        "withdraw_form": withdraw_form,
        "submission": submission,
        "charts": quality_charts(submission.quality),
        "reasons": rejection_rows(submission.rejection_reasons),
        "records": record_rows(selectors.records_sample(submission)),
        "problems": problem_rows(submission.errors),
        "failure": failure_text(submission),
        "uses": submission_data_uses(submission),
        "original_kept_until": selectors.original_kept_until(submission),
        **_lines_context(request, submission),
    }
    return render(request, "submissions/detail.html", context, status=status)


def _lines_context(request, submission) -> dict:
    """The lines behind the figure the reader opened (``?figure=…&after=…``), and the submissions they may open."""
    repeated = repeated_submission(submission)
    figure = request.GET.get("figure")
    if figure not in FIGURES or not submission.is_finished:
        openable = submissions_openable(request.user, [repeated])
        return {"repeated": repeated, "repeated_linked": repeated in openable}
    page = submission_lines(submission, figure=figure, after=_cursor(request.GET.get("after")),
                            redaction=request.GET.get("redaction", ""))
    openable = submissions_openable(request.user, [repeated, *(r.duplicate_of["submission"] for r in page.rows
                                                               if r.duplicate_of)])
    return {
        "repeated": repeated, "repeated_linked": repeated in openable,
        "lines": page, "lines_title": FIGURE_TITLES[figure], "line_rows": line_rows(page, openable),
        "lines_first": page.query(None), "lines_next": page.query(page.next_after), "redactions": REDACTION_LABELS,
        "lines_withdrawable": submission.status == submission.Status.READY and not submission.is_withdrawn
        and any(row.record and not row.withdrawn for row in page.rows),
    }  # fmt: skip


def _cursor(value) -> int:
    return int(value) if value and value.isdigit() else 0


@require_GET
@never_cache
@login_required
def submission_status(request, submission_id):
    submission = access_submission(request.user, submission_id)
    return JsonResponse(status_payload(submission))


def _is_xhr(request):
    # The upload script asks for a fragment so that errors replace the form in place.
    return request.headers.get("X-Requested-With") == "XMLHttpRequest"


def _created(request, submission):
    url = reverse("submission_detail", args=[submission.pk])
    if _is_xhr(request):
        return JsonResponse({"redirect": url}, status=201)
    return redirect(url)
