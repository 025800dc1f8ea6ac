"""Review pages: queues, the work page (one item, guidelines beside it), adjudication, writing, leaderboard."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from annotation import review_selectors as selectors
from annotation.access import access_assignment, access_decision_for_adjudication, access_language_led, access_queue
from annotation.services.review import (
    certification_grant,
    certification_withdraw,
    contributor_preference_set,
    queue_create,
    review_adjudicate,
    review_item_claim,
    review_submit,
)
from annotation.models.submissions import Kind
from annotation.services.preference_judgement import stored_responses
from annotation.services.review_preference import preference_order_show
from annotation.services.writing import writing_create, writing_source_pick
from annotation.web.review_forms import (
    AdjudicationForm,
    AnswerForm,
    CertificationForm,
    PreferenceForm,
    QueueForm,
    WritingForm,
)
from annotation.web.review_presenters import (
    answer_details,
    edit_diff,
    guidelines_html,
    prompt_text,
    record_fields,
    responses_shown,
)
from occiportal.models import Language


@login_required
def queue_list(request):
    queues = selectors.queues_visible_to(request.user)
    context = {
        "queues": queues,
        "disputed": selectors.disputed_decisions(request.user).count(),
        # Staff lead every language; listing all of them here would be noise.
        "led": [] if request.user.is_staff else list(selectors.languages_led_by(request.user)),
        "can_open": request.user.is_staff or selectors.led_language_codes(request.user),
    }
    return render(request, "review/queue_list.html", context)


@login_required
def queue_detail(request, queue_id):
    queue = access_queue(request.user, queue_id)
    context = {
        "queue": queue,
        "progress": selectors.queue_progress(queue),
        "annotators": selectors.queue_annotator_rows(queue),
        "agreement": selectors.queue_agreement(queue),
        "language_totals": selectors.language_totals(queue.language),
        "can_work": selectors.is_certified(request.user, queue.language.code) and queue.active,
        "can_adjudicate": selectors.is_language_lead(request.user, queue.language.code),
        "guidelines": guidelines_html(queue.guidelines),
    }
    return render(request, "review/queue_detail.html", context)


@require_POST
@login_required
def queue_next(request, queue_id):
    queue = access_queue(request.user, queue_id)
    return _next_item(request, queue)


@login_required
def item_work(request, assignment_id):
    assignment = access_assignment(request.user, assignment_id)
    record = assignment.record
    if assignment.status != assignment.Status.LEASED:
        return redirect("review_queue", assignment.queue_id)
    if assignment.queue.kind == Kind.PREFERENCE:
        return _preference_work(request, assignment)
    form = AnswerForm(request.POST or None, queue=assignment.queue, content=record.content)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            review_submit(
                assignment=assignment, action=data["action"], reason=data["reason"], ratings=data["ratings"],
                flags=data["flags"], edited_content=data["edited_content"],
            )
        except ValidationError as error:
            form.add_error(None, error.messages)  # the service names fields the form may not have
        else:
            return _next_item(request, assignment.queue)
    context = {
        "assignment": assignment,
        "queue": assignment.queue,
        "record": record,
        "fields": record_fields(record.content),
        # An edit is reviewed as a change to its original, which the page names and shows.
        "edit_diff": edit_diff(record.edit_of.content, record.content) if record.edit_of_id else None,
        "guidelines": guidelines_html(assignment.queue.guidelines),
        "form": form,
    }
    return render(request, "review/work.html", context, status=400 if form.errors else 200)


def _preference_work(request, assignment):
    """A preference item: the prompt, its responses in the order recorded for this annotator, the judgement form."""
    record = assignment.record
    order = preference_order_show(assignment=assignment)
    form = PreferenceForm(request.POST or None, shown_order=order)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            review_submit(
                assignment=assignment, action=data["action"], flags=data["flags"], judgement=data["judgement"]
            )
        except ValidationError as error:
            form.add_error(None, error.messages)
        else:
            return _next_item(request, assignment.queue)
    context = {
        "assignment": assignment,
        "queue": assignment.queue,
        "record": record,
        "prompt": prompt_text(record.content["prompt"]),
        "responses": responses_shown(stored_responses(record), order),
        "guidelines": guidelines_html(assignment.queue.guidelines),
        "form": form,
    }
    return render(request, "review/work_preference.html", context, status=400 if form.errors else 200)


def _next_item(request, queue):
    try:
        assignment = review_item_claim(queue=queue, annotator=request.user)
    except PermissionDenied as error:
        messages.error(request, str(error))
        return redirect("review_queue", queue.pk)
    if assignment is None:
        own = selectors.own_open_records(queue, request.user)
        if own:
            messages.info(request, ngettext(
                "Nothing left for you in this queue. %(count)s open item is yours (uploaded, written or edited by you), "
                "and nobody reviews their own data.",
                "Nothing left for you in this queue. %(count)s open items are yours (uploaded, written or edited by you), "
                "and nobody reviews their own data.",
                own,
            ) % {"count": own})  # fmt: skip
        else:
            messages.success(request, _("Nothing left for you in this queue. Thank you!"))
        return redirect("review_queue", queue.pk)
    return redirect("review_item", assignment.pk)


@login_required
def adjudication_list(request):
    decisions = list(selectors.disputed_decisions(request.user)[:50])
    answers = selectors.answers_for(decisions)
    rows = [
        {
            "decision": d,
            "fields": record_fields(d.record.content),
            # A preference record: its responses numbered as stored, the lead naming the best by number.
            "responses": responses_shown(stored_responses(d.record)) if d.queue.kind == Kind.PREFERENCE else [],
            "answers": [
                (a, answer_details(a), [] if a.edited_content is None else edit_diff(d.record.content, a.edited_content))
                for a in answers.get(d.record_id, [])
            ],
        }
        for d in decisions
    ]
    return render(request, "review/adjudication.html", {"rows": rows, "form": AdjudicationForm()})


@require_POST
@login_required
def adjudicate(request, decision_id):
    decision = access_decision_for_adjudication(request.user, decision_id)
    form = AdjudicationForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose accept or reject."))
        return redirect("review_adjudication")
    try:
        decision = review_adjudicate(lead=request.user, decision=decision, **form.cleaned_data)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Decision saved: record %(id)s %(outcome)s.") % {
            "id": decision.record_id, "outcome": decision.get_outcome_display().lower()})
    return redirect("review_adjudication")


@login_required
def queue_write(request, queue_id):
    """Write a new record for a queue's language and kind, or translate one shown from another language."""
    queue = access_queue(request.user, queue_id)
    form = WritingForm(request.POST or None, kind=queue.kind)
    source = _translation_source(request, queue)
    if request.method == "POST" and form.is_valid():
        try:
            record = writing_create(
                author=request.user, language=queue.language, kind=queue.kind, content=form.content(), source_record=source
            )
        except (ValidationError, PermissionDenied) as error:
            form.add_error(None, error.messages if isinstance(error, ValidationError) else str(error))
        else:
            messages.success(request, _("Thank you! Record %(id)s now waits for review.") % {"id": record.pk})
            return redirect("review_write", queue.pk)
    # Asked to translate, but nothing (any more) to translate: say so rather than show a blank form silently.
    source_missing = source is None and bool(request.GET.get("translate") or request.POST.get("source_record"))
    context = {
        "queue": queue, "form": form, "source": source, "source_missing": source_missing,
        "source_fields": record_fields(source.content) if source else [],
    }  # fmt: skip
    return render(request, "review/write.html", context, status=400 if form.errors else 200)


def _translation_source(request, queue):
    # The prompt to translate: picked on GET (?translate=1), carried in the form on POST.
    if queue.kind != "instruction":
        return None
    if request.method == "POST":
        return selectors.translation_source(request.POST.get("source_record"), queue.language)
    return writing_source_pick(language=queue.language) if request.GET.get("translate") else None


@login_required
def leaderboard(request, code):
    """A language's contributors, for everyone signed in; each person may leave it."""
    language = get_object_or_404(Language, code=code)
    context = {
        "language": language,
        "rows": selectors.contributors(language),
        "on_board": selectors.is_on_leaderboard(request.user),
    }
    return render(request, "review/leaderboard.html", context)


@require_POST
@login_required
def leaderboard_preference(request, code):
    language = get_object_or_404(Language, code=code)
    contributor_preference_set(user=request.user, on_leaderboard=request.POST.get("on_leaderboard") == "1")
    return redirect("review_leaderboard", language.code)


@login_required
def queue_new(request):
    """Language leads and staff open a queue for a language they lead."""
    languages = selectors.languages_led_by(request.user)
    if not languages.exists():
        raise Http404("You lead no language.")
    form = QueueForm(request.POST or None, languages=languages)
    if request.method == "POST" and form.is_valid():
        try:
            queue = queue_create(creator=request.user, **form.cleaned_data)
        except (ValidationError, PermissionDenied) as error:
            form.add_error(None, error.messages if isinstance(error, ValidationError) else str(error))
        else:
            messages.success(request, _("Queue opened."))
            return redirect("review_queue", queue.pk)
    return render(request, "review/queue_new.html", {"form": form}, status=400 if form.errors else 200)


@login_required
def certifications(request, code):
    """A language lead's list of the annotators certified for their language and its variants."""
    language = access_language_led(request.user, code)
    form = CertificationForm(request.POST or None, initial={"language_code": language.code})
    if request.method == "POST" and form.is_valid():
        user = get_user_model().objects.filter(username=form.cleaned_data["username"]).first()
        try:
            if user is None:
                raise ValidationError(_("No such user."))
            certification_grant(granter=request.user, user=user, language_code=form.cleaned_data["language_code"])
        except (ValidationError, PermissionDenied) as error:
            form.add_error(None, error.messages if isinstance(error, ValidationError) else str(error))
        else:
            messages.success(request, _("%(name)s is certified.") % {"name": user.get_username()})
            return redirect("review_certifications", language.code)
    context = {"language": language, "form": form, "certifications": selectors.certifications_of(language)}
    return render(request, "review/certifications.html", context, status=400 if form.errors else 200)


@require_POST
@login_required
def certification_withdraw_view(request, code, certification_id):
    """The lead withdraws a certification once they tick its confirmation box; without it, 400 and nothing changes."""
    language = access_language_led(request.user, code)
    certification = get_object_or_404(selectors.certifications_of(language), pk=certification_id)
    if request.POST.get("confirm") != "1":
        return HttpResponseBadRequest(_("Tick the box to confirm that the certification is to be withdrawn."))
    certification_withdraw(withdrawer=request.user, certification=certification)
    messages.success(request, _("Certification withdrawn."))
    return redirect("review_certifications", language.code)
