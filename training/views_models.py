"""Staff pages for what runs start from and are measured on: base models (register, build the tiny demo one)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from training.run_selectors import base_models_with_runs
from training.services.base_models import base_model_tiny_request
from training.services.runs import base_model_create
from training.web import staff_required


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
