"""Answers, the consensus rule, and the language lead's adjudication."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from annotation.models import Record, ReviewDecision
from annotation.review_selectors import queue_annotator_rows
from annotation.services.review import queue_create, review_adjudicate, review_item_claim, review_submit
from tests.annotation.conftest import make_lead, make_records
from tests.annotation.ingest_helpers import ingest_now, jsonl, submit
from tests.annotation.texts import documents

pytestmark = pytest.mark.django_db


@pytest.fixture
def answer(queue_de, annotator_for):
    def give(name, action, queue=None, **fields):
        assignment = review_item_claim(queue=queue or queue_de, annotator=annotator_for(name))
        return review_submit(assignment=assignment, action=action, **fields)

    return give


def test_two_of_two_accepting_accepts_the_record(submission_de, answer):
    record = make_records(submission_de, 1)[0]
    answer("ulla", "accept", ratings={"fluency": 5, "correctness": 4})
    record.refresh_from_db()
    assert record.status == Record.Status.PENDING and not record.decisions.exists()
    answer("udo", "accept")
    record.refresh_from_db()
    assert record.status == Record.Status.ACCEPTED
    decision = record.decisions.get()
    assert decision.outcome == "accepted" and decision.votes == {"accept": 2}


def test_an_edit_keeps_the_original_and_enters_review_itself(submission_de, queue_de, answer, annotator_for):
    record = make_records(submission_de, 1)[0]
    answer("ulla", "accept")
    edit = answer("udo", "edit", edited_content={"prompt": "Wie spät ist es jetzt?", "response": "Es ist acht Uhr."})
    record.refresh_from_db()
    assert record.content["response"].startswith("Antwort")  # the original, untouched
    assert record.decisions.get().outcome == "disputed"  # an edit says: not right as it is
    written = edit.edit_record
    assert written.content["response"] == "Es ist acht Uhr." and written.status == Record.Status.PENDING
    assert written.meta["edit_of"] == record.pk and written.submission.uploader.username == "udo"
    # The edit is reviewed like new content, by others than its author.
    assert review_item_claim(queue=queue_de, annotator=annotator_for("uwe")).record == written
    udo = written.submission.uploader
    assert review_item_claim(queue=queue_de, annotator=udo) is None
    with pytest.raises(ValidationError):  # an edit that changes nothing is no edit
        answer("ute", "edit", edited_content={"prompt": "Wie spät ist es jetzt?", "response": "Es ist acht Uhr."})


def test_agreeing_rejections_reject_the_record(submission_de, answer):
    record = make_records(submission_de, 1)[0]
    answer("ulla", "reject", reason="Die Antwort ist falsch.")
    answer("udo", "flag", flags=["machine_translated"])
    record.refresh_from_db()
    assert record.status == Record.Status.REJECTED


def test_a_disagreement_goes_to_the_language_lead(submission_de, answer, lead_de):
    record = make_records(submission_de, 1)[0]
    answer("ulla", "accept")
    answer("udo", "reject", reason="Unhöflich.")
    decision = record.decisions.get()
    assert decision.outcome == ReviewDecision.Outcome.DISPUTED
    record.refresh_from_db()
    assert record.status == Record.Status.PENDING
    from annotation.review_selectors import disputed_decisions

    assert list(disputed_decisions(lead_de)) == [decision]
    review_adjudicate(lead=lead_de, decision=decision, outcome="rejected", note="Ton passt nicht.")
    record.refresh_from_db()
    assert record.status == Record.Status.REJECTED
    assert list(disputed_decisions(lead_de)) == []


def test_k_of_n(lead_de, german, submission_de, answer):
    queue = queue_create(creator=lead_de, language=german, kind="instruction", name="2 von 3", overlap=3, consensus=2)
    record = make_records(submission_de, 1)[0]
    answer("ulla", "accept", queue=queue)
    answer("udo", "reject", queue=queue, reason="Falsch.")
    answer("uwe", "accept", queue=queue)
    assert queue.decisions.get(record=record).outcome == "accepted"


def test_only_a_lead_of_that_language_adjudicates(submission_de, answer, french, annotator_for):
    make_records(submission_de, 1)
    answer("ulla", "accept")
    answer("udo", "reject", reason="Nein.")
    decision = ReviewDecision.objects.get()
    for outsider in (make_lead("louis", french), annotator_for("uwe")):
        with pytest.raises(PermissionDenied):
            review_adjudicate(lead=outsider, decision=decision, outcome="accepted")
    from annotation.review_selectors import disputed_decisions

    assert not disputed_decisions(make_lead("lucie", french)).exists()


@pytest.mark.parametrize(
    "action, fields",
    [
        ("reject", {}),
        ("edit", {}),
        ("flag", {}),
        ("flag", {"flags": ["not-a-flag"]}),
        ("accept", {"ratings": {"fluency": 6}}),
        ("accept", {"ratings": {"beauty": 3}}),
        ("launch", {}),
    ],
)
def test_bad_answers_are_refused(submission_de, queue_de, annotator_for, action, fields):
    make_records(submission_de, 1)
    assignment = review_item_claim(queue=queue_de, annotator=annotator_for("ulla"))
    with pytest.raises(ValidationError):
        review_submit(assignment=assignment, action=action, **fields)


def test_an_item_is_answered_once(submission_de, queue_de, annotator_for):
    make_records(submission_de, 1)
    assignment = review_item_claim(queue=queue_de, annotator=annotator_for("ulla"))
    review_submit(assignment=assignment, action="accept")
    with pytest.raises(ValidationError):
        review_submit(assignment=assignment, action="reject", reason="Doch nicht.")


def test_ingested_records_are_reviewed(lead_de, german, partner_a, member_a, annotator_for):
    submission = ingest_now(submit(user=member_a, partner=partner_a, language=german,
                                   content=jsonl({"text": text} for text in documents(2))))
    queue = queue_create(creator=lead_de, language=german, kind="pretraining", name="Texte")
    ulla = annotator_for("ulla")
    for _ in range(2):
        review_submit(assignment=review_item_claim(queue=queue, annotator=ulla), action="accept")
    assert set(submission.records.values_list("status", flat=True)) == {"accepted"}
    assert review_item_claim(queue=queue, annotator=ulla) is None


@pytest.mark.parametrize("verdict, rest", [("accept", "accepted"), ("reject", "rejected")])
def test_a_decided_sample_decides_the_rest_of_its_submission(lead_de, german, partner_a, member_a, annotator_for, verdict, rest):
    docs = submit(user=member_a, partner=partner_a, language=german, content=jsonl([{"text": "x"}]))
    make_records(docs, 120)
    queue = queue_create(creator=lead_de, language=german, kind="pretraining", name="Stichprobe", sample_rate=0.1)
    ulla = annotator_for("ulla")
    sampled = 0
    while (assignment := review_item_claim(queue=queue, annotator=ulla)) is not None:
        sampled += 1
        assert docs.records.exclude(status="pending").count() == sampled - 1  # the rest waits for the whole sample
        review_submit(assignment=assignment, action=verdict, reason="Schlecht." if verdict == "reject" else "")
    statuses = set(docs.records.values_list("status", flat=True))
    assert 0 < sampled < 40 and statuses == {rest}


def test_per_annotator_agreement_counts_disputed_items(queue_de, submission_de, annotator_for):
    make_records(submission_de, 3)
    ulla, udo = annotator_for("ulla"), annotator_for("udo")
    for annotator, actions in ((ulla, ["accept"] * 3), (udo, ["accept", "reject", "reject"])):
        for action in actions:
            assignment = review_item_claim(queue=queue_de, annotator=annotator)
            review_submit(assignment=assignment, action=action, reason="Falsch." if action == "reject" else "")
    rows = {row["annotator"]: row for row in queue_annotator_rows(queue_de)}
    assert ReviewDecision.objects.filter(outcome="disputed").count() == 2
    assert (rows["ulla"]["items"], rows["udo"]["items"]) == (3, 3)
    assert rows["ulla"]["agreement"] == pytest.approx(1 / 3)
