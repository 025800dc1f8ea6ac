"""The review pages: queues, the work page, adjudication — and who may see which."""

import re

import pytest
from django.urls import reverse

from annotation.models import Annotation, Assignment, ReviewDecision
from annotation.services.review import queue_create, review_item_claim, review_submit
from tests.annotation.conftest import make_lead, make_records
from tests.annotation.ingest_helpers import jsonl, submit
from tests.conftest import language

pytestmark = pytest.mark.django_db


@pytest.fixture
def polish_queue(staff, partner_a, member_a):
    polish = language("pl")
    records = make_records(submit(user=member_a, partner=partner_a, language=polish, kind="instruction",
                                  content=jsonl([{"prompt": "a", "response": "b"}])), 2)
    return queue_create(creator=staff, language=polish, kind="instruction", name="Polski"), records


def _as(client, user):
    client.force_login(user)
    return client


def test_queue_list_shows_the_languages_one_annotates(client, queue_de, polish_queue, annotator_for):
    page = _as(client, annotator_for("ulla")).get(reverse("review_queues"))
    assert page.status_code == 200
    assert "Deutsch: Anweisungen" in page.text and "Polski" not in page.text


def test_queue_page_shows_progress_and_guidelines_sanitised(client, queue_de, submission_de, annotator_for):
    make_records(submission_de, 3)
    queue_de.guidelines = "## Regeln\n\n<script>alert(1)</script> <b onclick='x()'>fett</b>"
    queue_de.save()
    review_item_claim(queue=queue_de, annotator=annotator_for("udo"))
    # Someone who only skipped has answers but no agreement figure yet.
    review_submit(assignment=review_item_claim(queue=queue_de, annotator=annotator_for("uwe")), action="skip")
    page = _as(client, annotator_for("ulla")).get(reverse("review_queue", args=[queue_de.pk]))
    assert page.status_code == 200
    assert "<h2>Regeln</h2>" in page.text and "<script>alert" not in page.text and "onclick" not in page.text
    assert re.search(r'data-figure="remaining">3<', page.text)
    assert re.search(r'data-figure="in_lease">1<', page.text)
    assert "Start reviewing" in page.text


def test_other_languages_queues_answer_404(client, polish_queue, annotator_for, lead_de):
    queue, _ = polish_queue
    for user in (annotator_for("ulla"), lead_de):
        assert _as(client, user).get(reverse("review_queue", args=[queue.pk])).status_code == 404
        assert client.post(reverse("review_next", args=[queue.pk])).status_code == 404


def test_work_page_answers_and_moves_on(client, queue_de, submission_de, annotator_for):
    first, second = make_records(submission_de, 2)
    first.content = {"prompt": "<script>alert('x')</script>", "response": "Antwort"}
    first.save()
    client = _as(client, annotator_for("ulla"))
    start = client.post(reverse("review_next", args=[queue_de.pk]))
    assignment = Assignment.objects.get()
    assert start.url == reverse("review_item", args=[assignment.pk])
    page = client.get(start.url)
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page.text and "<script>alert" not in page.text
    assert "Keyboard shortcuts" in page.text and "<kbd>a</kbd>" in page.text
    answered = client.post(start.url, {"action": "accept", "rating_fluency": "4", "rating_correctness": "5"})
    annotation = Annotation.objects.get()
    assert annotation.ratings == {"fluency": 4, "correctness": 5}
    following = Assignment.objects.exclude(pk=assignment.pk).get()
    assert answered.url == reverse("review_item", args=[following.pk]) and following.record == second


def test_work_page_edit_and_refusals(client, queue_de, submission_de, annotator_for):
    make_records(submission_de, 2)
    client = _as(client, annotator_for("ulla"))
    url = client.post(reverse("review_next", args=[queue_de.pk])).url
    refused = client.post(url, {"action": "reject"})
    assert refused.status_code == 400 and "Say why you reject it." in refused.text
    client.post(url, {"action": "edit", "edit_prompt": "Frage?", "edit_response": "Korrigiert."})
    assert Annotation.objects.get().edited_content == {"prompt": "Frage?", "response": "Korrigiert."}


def test_nobody_else_opens_an_assignment(client, queue_de, submission_de, annotator_for, staff):
    make_records(submission_de, 1)
    assignment = review_item_claim(queue=queue_de, annotator=annotator_for("ulla"))
    url = reverse("review_item", args=[assignment.pk])
    for user in (annotator_for("udo"), staff):
        assert _as(client, user).get(url).status_code == 404
        assert client.post(url, {"action": "accept"}).status_code == 404
    assert not Annotation.objects.exists()


def test_lead_adjudicates_and_others_cannot(client, queue_de, submission_de, annotator_for, lead_de, french):
    make_records(submission_de, 1)
    for name, action, extra in (("ulla", "accept", {}), ("udo", "reject", {"reason": "<i>falsch</i>"})):
        review_submit(assignment=review_item_claim(queue=queue_de, annotator=annotator_for(name)), action=action, **extra)
    decision = ReviewDecision.objects.get()
    url = reverse("review_adjudicate", args=[decision.pk])
    assert _as(client, make_lead("louis", french)).post(url, {"outcome": "accepted"}).status_code == 404
    assert _as(client, annotator_for("uwe")).post(url, {"outcome": "accepted"}).status_code == 404
    page = _as(client, lead_de).get(reverse("review_adjudication"))
    assert "&lt;i&gt;falsch&lt;/i&gt;" in page.text
    assert client.post(url, {"outcome": "accepted", "note": "Passt."}).status_code == 302
    decision.refresh_from_db()
    assert decision.outcome == "accepted" and decision.adjudicated_by == lead_de


def test_review_pages_need_sign_in(client, queue_de):
    for url in (reverse("review_queues"), reverse("review_queue", args=[queue_de.pk]), reverse("review_adjudication")):
        assert client.get(url).status_code == 302


def test_queue_page_queries_are_bounded(client, queue_de, submission_de, annotator_for, django_assert_max_num_queries):
    make_records(submission_de, 6)
    for name in ("ulla", "udo", "uwe"):
        user = annotator_for(name)
        while (assignment := review_item_claim(queue=queue_de, annotator=user)) is not None:
            review_submit(assignment=assignment, action="accept", ratings={"fluency": 3})
    client = _as(client, annotator_for("ute"))
    with django_assert_max_num_queries(25):
        assert client.get(reverse("review_queue", args=[queue_de.pk])).status_code == 200


def test_work_page_reports_an_edit_that_changes_nothing(client, queue_de, submission_de, annotator_for):
    record = make_records(submission_de, 1)[0]
    client = _as(client, annotator_for("ulla"))
    url = client.post(reverse("review_next", args=[queue_de.pk])).url
    same = client.post(url, {"action": "edit", "edit_prompt": record.content["prompt"], "edit_response": record.content["response"]})
    assert same.status_code == 400 and "The edit changes nothing." in same.text


def test_a_lead_opens_a_queue_and_certifies_annotators(client, lead_de, german, french, annotator_for):
    from annotation.models import Certification, ReviewQueue
    from tests.conftest import make_user

    client = _as(client, lead_de)
    assert "Open a queue" in client.get(reverse("review_queues")).text
    opened = client.post(reverse("review_queue_new"), {
        "name": "Texte", "language": "de", "kind": "pretraining", "guidelines": "# Hallo", "sample_rate": "0.5",
        "rating_scales": "fluency, Sprachqualität",
    })
    queue = ReviewQueue.objects.get(name="Texte")
    assert opened.url == reverse("review_queue", args=[queue.pk])
    assert (queue.overlap, queue.consensus, queue.rating_scales) == (1, 1, ["fluency", "sprachqualität"])
    assert client.post(reverse("review_queue_new"), {"name": "x", "language": "fr", "kind": "instruction",
                                                     "sample_rate": "1"}).status_code == 400
    make_user("neu")
    url = reverse("review_certifications", args=["de"])
    assert client.post(url, {"username": "neu", "language_code": "de"}).status_code == 302
    assert client.post(url, {"username": "neu", "language_code": "fr"}).status_code == 400
    assert client.post(url, {"username": "niemand", "language_code": "de"}).status_code == 400
    certification = Certification.objects.get(user__username="neu")
    assert "neu" in client.get(url).text
    withdraw = reverse("review_certification_withdraw", args=["de", certification.pk])
    assert 'name="confirm" value="1" required' in client.get(url).text
    assert client.post(withdraw).status_code == 400  # not confirmed: nothing changes
    certification.refresh_from_db()
    assert certification.withdrawn_at is None
    client.post(withdraw, {"confirm": "1"})
    certification.refresh_from_db()
    assert certification.withdrawn_at is not None
    assert client.get(reverse("review_certifications", args=["fr"])).status_code == 404
    annotator = _as(client, annotator_for("ulla"))
    assert annotator.get(url).status_code == 404
    assert annotator.get(reverse("review_queue_new")).status_code == 404


def test_the_lead_reads_flags_and_ratings_in_words():
    from annotation.models import Annotation
    from annotation.web.review_presenters import answer_details

    answer = Annotation(action="edit", flags=["wrong_language", "personal_data"], ratings={"fluency": 2},
                        edited_content={"prompt": "Frage?", "response": "Neu."})
    assert answer_details(answer) == ["Wrong language, Personal data", "fluency 2/5"]


def test_an_edit_shows_as_an_escaped_word_diff_of_the_fields_it_changed():
    from annotation.web.review_presenters import edit_diff

    diff = edit_diff({"prompt": "Frage?", "response": "Die <b>alte</b> Antwort."},
                     {"prompt": "Frage?", "response": "Die <b>neue</b> Antwort."})
    assert diff == [("Response", "Die <del>&lt;b&gt;alte&lt;/b&gt;</del><ins>&lt;b&gt;neue&lt;/b&gt;</ins> Antwort.")]


def test_nothing_left_says_when_the_open_items_are_ones_own_uploads(client, queue_de, submission_de, member_a, staff):
    from annotation.services.review import certification_grant

    make_records(submission_de, 2)
    certification_grant(granter=staff, user=member_a, language_code="de")  # the uploader annotates too
    client = _as(client, member_a)

    page = client.post(reverse("review_next", args=[queue_de.pk]), follow=True)

    assert "2 open items are yours (uploaded, written or edited by you), and nobody reviews their own data." in page.text
    assert not Assignment.objects.exists()


def test_certifying_for_an_unknown_language_says_so(client, lead_de, staff):
    from tests.conftest import make_user

    make_user("neu")
    page = _as(client, lead_de).post(reverse("review_certifications", args=["de"]), {"username": "neu", "language_code": "xx"})

    assert page.status_code == 400 and "Unknown language xx" in page.text and "Only the language" not in page.text


def test_the_queue_page_links_a_lead_to_adjudication(client, queue_de, submission_de, annotator_for, lead_de):
    make_records(submission_de, 1)
    for name, action in (("ulla", "accept"), ("udo", "reject")):
        review_submit(assignment=review_item_claim(queue=queue_de, annotator=annotator_for(name)), action=action,
                      reason="Falsch." if action == "reject" else "")
    url = reverse("review_queue", args=[queue_de.pk])
    assert "data-adjudication-link" in _as(client, lead_de).get(url).text
    assert "data-adjudication-link" not in _as(client, annotator_for("uwe")).get(url).text


def test_adjudication_shows_an_edit_as_a_word_diff(client, queue_de, submission_de, annotator_for, lead_de):
    record = make_records(submission_de, 1)[0]
    edited = {**record.content, "response": record.content["response"] + " Neu."}
    review_submit(assignment=review_item_claim(queue=queue_de, annotator=annotator_for("ulla")), action="accept")
    review_submit(assignment=review_item_claim(queue=queue_de, annotator=annotator_for("udo")), action="edit",
                  edited_content=edited)
    page = _as(client, lead_de).get(reverse("review_adjudication")).text
    assert "data-edit-diff" in page and "<ins> Neu.</ins>" in page
