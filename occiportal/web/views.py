"""People pages: a manager's people and invitations, language leads, and the invitation link."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from annotation.review_selectors import languages_led_by
from occiportal import selectors
from occiportal.access import access_invitation, access_lead_role, access_people
from occiportal.invitations import (
    invitation_accept,
    invitation_accept_new,
    invitation_create,
    invitation_resend,
    invitation_revoke,
)
from occiportal.services import language_lead_grant, language_lead_revoke

from .forms import AcceptForm, InvitationForm, LeadForm


@login_required
def people(request):
    access_people(request.user)
    return _people_page(request)


@require_POST
@login_required
def invitation_new(request):
    access_people(request.user)
    form = _invitation_form(request, request.POST)
    if not form.is_valid():
        return _people_page(request, invite_form=form, status=400)
    data = form.cleaned_data
    invitation_create(
        inviter=request.user, email=data["email"], role=data["role"], partner=data.get("partner"),
        languages=list(data.get("languages", [])), mail_language=data["mail_language"], base_url=_base_url(request),
    )  # fmt: skip
    messages.success(request, _("Invitation sent to %(email)s.") % {"email": data["email"]})
    return redirect("people")


@require_POST
@login_required
def invitation_resend_view(request, invitation_id):
    invitation = access_invitation(request.user, invitation_id)
    invitation_resend(invitation=invitation, base_url=_base_url(request))
    messages.success(request, _("Invitation sent again to %(email)s.") % {"email": invitation.email})
    return redirect("people")


@require_POST
@login_required
def invitation_revoke_view(request, invitation_id):
    invitation = access_invitation(request.user, invitation_id)
    invitation_revoke(invitation=invitation)
    messages.success(request, _("Invitation for %(email)s revoked.") % {"email": invitation.email})
    return redirect("people")


@require_POST
@login_required
def lead_new(request):
    access_people(request.user)
    form = LeadForm(request.POST, languages=languages_led_by(request.user))
    if not form.is_valid():
        return _people_page(request, lead_form=form, status=400)
    data = form.cleaned_data
    role = language_lead_grant(granter=request.user, user=data["username"], language=data["language"])
    messages.success(request, _("%(name)s now leads %(language)s.") % {"name": role.user, "language": role.language})
    return redirect("people")


@require_POST
@login_required
def lead_remove(request, role_id):
    role = access_lead_role(request.user, role_id)
    language_lead_revoke(revoker=request.user, role=role)
    message = _("%(name)s no longer leads %(language)s.") % {"name": role.user, "language": role.language}
    messages.success(request, message)
    return redirect("people")


def invitation_accept_view(request, token):
    """Someone new chooses a username and password; someone signed in with the invited address accepts."""
    invitation = selectors.invitation_by_token(token)
    if invitation is None:
        return render(request, "people/invitation_invalid.html", status=404)
    if request.user.is_authenticated:
        return _accept_signed_in(request, invitation)
    form = AcceptForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and form.is_valid():
        try:
            user = invitation_accept_new(
                invitation=invitation, username=form.cleaned_data["username"], password=form.cleaned_data["password1"]
            )
        except ValidationError as error:
            form.add_error(None, error.messages)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return _welcome(request)
    return _accept_page(request, invitation, form)


def _accept_signed_in(request, invitation):
    if request.method == "POST":
        try:
            invitation_accept(invitation=invitation, user=request.user)
        except (ValidationError, PermissionDenied) as error:
            messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
        else:
            return _welcome(request)
    return _accept_page(request, invitation, None)


def _accept_page(request, invitation, form):
    context = {
        "invitation": invitation,
        "languages": list(invitation.languages.all()),
        "form": form,
        "account_exists": selectors.account_exists(invitation.email),
        "for_me": request.user.is_authenticated and request.user.email.casefold() == invitation.email.casefold(),
    }
    return render(request, "people/invitation_accept.html", context, status=400 if form and form.errors else 200)


def _welcome(request):
    messages.success(request, _("Welcome! Your invitation is accepted."))
    return redirect("dashboard")


def _invitation_form(request, data=None):
    initial = {"mail_language": get_language()}
    partners, languages = selectors.partners_administered_by(request.user), languages_led_by(request.user)
    return InvitationForm(data, initial=initial, partners=partners, languages=languages)


def _people_page(request, *, invite_form=None, lead_form=None, status=200):
    user = request.user
    languages = languages_led_by(user)
    context = {
        "members": selectors.members_of(selectors.partners_administered_by(user)),
        "leads": selectors.leads_of(languages),
        "annotators": selectors.annotators_led_by(user),
        "invitations": selectors.invitations_managed_by(user),
        "invite_form": invite_form or _invitation_form(request),
        "lead_form": (lead_form or LeadForm(languages=languages)) if languages.exists() else None,
    }
    return render(request, "people/people.html", context, status=status)


def _base_url(request) -> str:
    return request.build_absolute_uri("/")
