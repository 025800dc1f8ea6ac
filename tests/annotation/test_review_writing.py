"""Writing tasks and the contributors' leaderboard."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from annotation.models import Record
from annotation.services.review import contributor_preference_set, queue_create, review_item_claim, review_submit
from annotation.services.signatures import signature_parts
from annotation.services.writing import writing_create
from tests.annotation.conftest import make_records
from tests.annotation.ingest_helpers import jsonl, submit
from tests.conftest import language

pytestmark = pytest.mark.django_db

PAIR = {"prompt": "Wie heißt die Hauptstadt von Bayern?", "response": "Die Hauptstadt von Bayern ist München."}


def test_a_written_record_is_checked_credited_and_reviewed_by_others(queue_de, german, annotator_for):
    ulla = annotator_for("ulla")
    record = writing_create(author=ulla, language=german, kind="instruction", content=PAIR)
    assert record.status == Record.Status.PENDING and record.meta["author"] == "ulla"
    assert record.submission.uploader == ulla and record.submission.partner.slug == "community"
    assert record.tokens > 0 and record.detected_language == "de"
    assert signature_parts(submission_id=record.submission_id) == [f"{record.submission_id}/w{record.line}"]
    second = writing_create(author=ulla, language=german, kind="instruction", content={**PAIR, "response": "München."})
    assert second.submission == record.submission and second.line == record.line + 1
    assert review_item_claim(queue=queue_de, annotator=ulla) is None  # not her own
    assert review_item_claim(queue=queue_de, annotator=annotator_for("udo")).record == record


def test_writing_after_withdrawing_ones_writing_starts_a_new_submission(german, annotator_for):
    from training.services.withdrawals import withdrawal_create

    ulla = annotator_for("ulla")
    first = writing_create(author=ulla, language=german, kind="instruction", content=PAIR)
    withdrawal_create(user=ulla, submission=first.submission)

    later = writing_create(author=ulla, language=german, kind="instruction", content={**PAIR, "response": "München."})

    assert later.submission != first.submission and later.status == Record.Status.PENDING
    assert not later.submission.is_withdrawn


def test_an_edit_is_linked_to_the_record_it_corrects(german, annotator_for):
    ulla = annotator_for("ulla")
    record = writing_create(author=ulla, language=german, kind="instruction", content=PAIR)
    corrected = writing_create(author=annotator_for("udo"), language=german, kind="instruction",
                               content={**PAIR, "response": "Sie heißt München."}, edit_of=record)
    assert corrected.edit_of == record and list(record.edits.all()) == [corrected]
    assert record.edit_of is None


def test_writing_refuses_duplicates_bad_shapes_and_the_uncertified(german, annotator_for, member_a):
    ulla = annotator_for("ulla")
    writing_create(author=ulla, language=german, kind="instruction", content=PAIR)
    with pytest.raises(ValidationError):
        writing_create(author=ulla, language=german, kind="instruction", content=PAIR)
    with pytest.raises(ValidationError):
        writing_create(author=ulla, language=german, kind="evaluation", content={"question": "?", "choices": ["a"], "answer": 0})
    with pytest.raises(PermissionDenied):
        writing_create(author=member_a, language=german, kind="instruction", content={**PAIR, "prompt": "Neu?"})


def test_write_page_for_evaluation_items(client, lead_de, german, annotator_for):
    queue = queue_create(creator=lead_de, language=german, kind="evaluation", name="Prüfungsfragen")
    client.force_login(annotator_for("ulla"))
    url = reverse("review_write", args=[queue.pk])
    assert "Correct choice" in client.get(url).text
    sent = client.post(url, {"question": "Wie viele Bundesländer hat Deutschland?", "choices": "14\n16\n\n18", "answer": "2"})
    assert sent.status_code == 302
    assert Record.objects.get(kind="evaluation").content == {
        "question": "Wie viele Bundesländer hat Deutschland?", "choices": ["14", "16", "18"], "answer": 1}
    assert client.post(url, {"question": "Doppelt?", "choices": "a\na", "answer": "1"}).status_code == 400


def test_translating_a_prompt_from_another_language(client, queue_de, annotator_for, partner_a, member_a, staff):
    french = language("fr")
    source = make_records(submit(user=member_a, partner=partner_a, language=french, kind="instruction",
                                 content=jsonl([PAIR])), 1, status="accepted")[0]
    source.content = {"prompt": "<b>Quelle est la capitale de la Bavière ?</b>", "response": "Munich."}
    source.save()
    client.force_login(annotator_for("ulla"))
    url = reverse("review_write", args=[queue_de.pk])
    page = client.get(url, {"translate": "1"})
    assert "&lt;b&gt;Quelle est la capitale" in page.text
    client.post(url, {**PAIR, "source_record": source.pk})
    assert Record.objects.get(meta__written=True).meta["source_record"] == source.pk


def test_write_page_is_for_certified_annotators_of_the_language(client, queue_de, annotator_for):
    client.force_login(annotator_for("pierre", "fr"))
    assert client.get(reverse("review_write", args=[queue_de.pk])).status_code == 404


def test_leaderboard_lists_contributors_who_stay_on_it(client, queue_de, submission_de, german, annotator_for):
    make_records(submission_de, 2)
    ulla, udo = annotator_for("ulla"), annotator_for("udo")
    for user in (ulla, udo):
        review_submit(assignment=review_item_claim(queue=queue_de, annotator=user), action="accept")
    writing_create(author=udo, language=german, kind="instruction", content=PAIR)
    client.force_login(ulla)
    url = reverse("review_leaderboard", args=["de"])
    page = client.get(url).text
    assert 'data-contributor="udo"' in page and 'data-contributor="ulla"' in page
    assert page.index('data-contributor="udo"') < page.index('data-contributor="ulla"')  # 1 answer + 1 written
    client.post(reverse("review_leaderboard_preference", args=["de"]), {"on_leaderboard": "0"})
    page = client.get(url).text
    assert 'data-contributor="ulla"' not in page and "Show me on the leaderboard" in page
    contributor_preference_set(user=ulla, on_leaderboard=True)
    assert 'data-contributor="ulla"' in client.get(url).text
    assert client.get(reverse("review_leaderboard", args=["xx"])).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302


def test_a_written_near_copy_of_an_earlier_record_is_marked_once_committed(
    queue_de, german, annotator_for, django_capture_on_commit_callbacks
):
    ulla = annotator_for("ulla")
    with django_capture_on_commit_callbacks(execute=True):
        first = writing_create(author=ulla, language=german, kind="instruction", content=PAIR)
    with django_capture_on_commit_callbacks(execute=True):
        copy = writing_create(author=ulla, language=german, kind="instruction", content={**PAIR, "prompt": PAIR["prompt"] + "!"})

    copy.refresh_from_db()
    first.refresh_from_db()
    assert copy.near_duplicate_of == first and first.near_duplicate_of is None

def test_translating_with_nothing_to_translate_says_so(client, queue_de, annotator_for):
    client.force_login(annotator_for("ulla"))
    page = client.get(reverse("review_write", args=[queue_de.pk]), {"translate": "1"})
    assert "data-source-missing" in page.text
    assert "data-source-missing" not in client.get(reverse("review_write", args=[queue_de.pk])).text


def test_an_edit_comes_up_for_review_as_an_edit_of_its_record_with_a_diff(client, queue_de, german, annotator_for):
    record = writing_create(author=annotator_for("ulla"), language=german, kind="instruction", content=PAIR)
    edit = writing_create(author=annotator_for("udo"), language=german, kind="instruction",
                          content={**PAIR, "response": "Die Hauptstadt von Bayern ist <b>München</b>."}, edit_of=record)
    reviewer = annotator_for("uwe")
    seen = set()
    while (assignment := review_item_claim(queue=queue_de, annotator=reviewer)) and assignment.record_id != edit.pk:
        assert assignment.record_id not in seen
        seen.add(assignment.record_id)
        review_submit(assignment=assignment, action="accept")
    client.force_login(reviewer)
    page = client.get(reverse("review_item", args=[assignment.pk])).text
    assert f'data-edit-of="{record.pk}"' in page
    assert "<del>München.</del><ins>&lt;b&gt;München&lt;/b&gt;.</ins>" in page
