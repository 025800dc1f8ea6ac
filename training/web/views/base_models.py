"""Pages for what runs start from and are measured on: base models (staff) and evaluation suites (staff, language leads)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from training.models import EvaluationSuite
from training.run_selectors import base_models_with_runs
from training.services.base_models import base_model_tiny_request
from training.services.runs import base_model_create
from training.services.suite_upload import evaluation_suite_upload
from training.suite_selectors import access_evaluation_suite, may_manage_suites, suite_contents
from training.web.decorators import staff_required


@staff_required
def base_model_list(request):
    """Every base model with the runs that used it; POST registers one by hub id and revision, or a folder."""
    errors = []
    if request.method == "POST":
        fields = {key: request.POST.get(key, "").strip() for key in ("name", "source", "revision")}
        try:
            model = base_model_create(**fields)
        except ValidationError as error:
            errors = error.messages
        else:
            messages.success(request, _("Base model %(name)s is registered.") % {"name": model.name})
            return redirect("base_model_list")
    return render(request, "runs/base_models.html", {"models": base_models_with_runs(), "errors": errors,
                                                     "values": request.POST}, status=400 if errors else 200)


@staff_required
@require_POST
def base_model_tiny(request):
    """Queue the tiny demo model (``create_base_model NAME --tiny``); it appears in the list once built."""
    name = request.POST.get("name", "").strip() or "tiny"
    try:
        base_model_tiny_request(user=request.user, name=name)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("The tiny model %(name)s is being built; reload in a minute.") % {"name": name})
    return redirect("base_model_list")


@login_required
def suite_list(request):
    """Staff and language leads: every suite, and a form to upload one (its files, or one archive of them)."""
    if not may_manage_suites(request.user):
        raise Http404("No such page.")
    errors = []
    if request.method == "POST":
        files = [(upload.name, upload.read()) for upload in request.FILES.getlist("files")]
        try:
            suite = evaluation_suite_upload(
                user=request.user, name=request.POST.get("name", "").strip(), files=files,
                provenance=request.POST.get("provenance", ""), description=request.POST.get("description", "").strip(),
            )  # fmt: skip
        except ValidationError as error:
            errors = error.messages
        else:
            messages.success(request, _("Suite %(name)s is registered.") % {"name": suite.name})
            return redirect("suite_detail", suite.pk)
    return render(request, "runs/suites.html", {
        "suites": EvaluationSuite.objects.order_by("name"), "provenances": EvaluationSuite.Provenance.choices,
        "errors": errors, "values": request.POST,
    }, status=400 if errors else 200)  # fmt: skip


@login_required
def suite_detail(request, suite_id):
    suite = access_evaluation_suite(request.user, suite_id)
    return render(request, "runs/suite_detail.html", {"suite": suite, "languages": suite_contents(suite)})
