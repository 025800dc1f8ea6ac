"""The Argilla bridge, through the real ``argilla`` SDK against a stand-in of Argilla's REST API."""

import re
from pathlib import Path

import pytest

from annotation import argilla
from django.contrib.admin.models import LogEntry

from annotation.argilla_tasks import argilla_pull_all, argilla_pull_queue
from annotation.models import Annotation, Assignment, Record, ReviewDecision
from annotation.models.review import Flag
from annotation.services.argilla_sync import SyncResult, argilla_pull, argilla_push
from annotation.services.review import (
    certification_grant,
    queue_create,
    review_adjudicate,
    review_item_claim,
    review_submit,
)
from occiportal.celery import app
from tests.conftest import make_user

from .argilla_server import OWNER_KEY, ArgillaTestServer
from .ingest_helpers import ingest_now, jsonl, submit
from .texts import FRENCH, GERMAN

pytestmark = pytest.mark.django_db

DATASET = "occiportal-queue-{}"
SDK_IMPORT = re.compile(r"^\s*(import|from) argilla\b", re.MULTILINE)
PAIRS = [
    {"prompt": GERMAN[0] + " Warum?", "response": GERMAN[1] + " " + GERMAN[2]},
    {"prompt": GERMAN[3] + " Wie?", "response": GERMAN[4] + " " + GERMAN[5]},
    {"prompt": FRENCH[0] + " Pourquoi?", "response": FRENCH[1] + " " + FRENCH[2]},
]


@pytest.fixture
def server(settings):
    with ArgillaTestServer() as server:
        settings.ARGILLA_API_URL, settings.ARGILLA_API_KEY = server.url, OWNER_KEY
        settings.ARGILLA_WORKSPACE = "sprachen"
        yield server


@pytest.fixture
def records(member_a, partner_a, german):
    submission = ingest_now(submit(user=member_a, partner=partner_a, language=german, kind="instruction", content=jsonl(PAIRS)))
    records = list(submission.records.order_by("line"))
    assert [r.language_mismatch for r in records] == [False, False, True]
    return records


@pytest.fixture
def pushed(server, queue_de, records):
    assert argilla_push(queue_id=queue_de.pk).pushed == 3
    return server


def annotate(server, queue, username, record, status="submitted", **values) -> str:
    """What Argilla's UI sends when ``username`` first answers ``record``; returns the response's id."""
    server_record = server.record_by_external_id(DATASET.format(queue.pk), record.pk)
    return _respond(server, username, "POST", f"/api/v1/records/{server_record['id']}/responses", status, values)


def change(server, username, response_id, status, **values):
    """What Argilla's UI sends when ``username`` changes their answer: a draft discarded, for instance."""
    _respond(server, username, "PUT", f"/api/v1/responses/{response_id}", status, values)


def _respond(server, username, method, path, status, values) -> str:
    body = {"status": status, "values": {name: {"value": value} for name, value in values.items()}}
    response = server.http.request(method, path, headers={"X-Argilla-Api-Key": f"{username}.apikey"}, json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()["id"]


def answer_on_portal(queue, annotator, action, **answer):
    lease = review_item_claim(queue=queue, annotator=annotator)
    review_submit(assignment=lease, action=action, **answer)
    return lease.record


def deletions(server) -> list[list[str]]:
    """The record ids of each DELETE /api/v1/datasets/{id}/records the SDK sent."""
    requests = [e for e in server.exchanges if e.method == "DELETE" and e.path.endswith("/records")]
    assert all(e.status == 204 for e in requests)
    return [e.query["ids"][0].split(",") for e in requests]


def test_push_creates_the_dataset_with_the_queues_fields_questions_and_guidelines(pushed, queue_de):
    dataset = pushed.dataset_named(DATASET.format(queue_de.pk))
    assert dataset["status"] == "ready" and dataset["workspace_id"] == pushed.workspace_named("sprachen")["id"]
    assert dataset["guidelines"] == queue_de.guidelines
    assert dataset["distribution"] == {"strategy": "overlap", "min_submitted": 2}  # the queue's overlap
    fields = {f["name"]: f["settings"]["type"] for f in pushed.children("fields", dataset["id"])}
    assert fields == {"prompt": "text", "response": "text"}
    questions = {q["name"]: q for q in pushed.children("questions", dataset["id"])}
    assert list(questions) == ["decision", "rating_fluency", "rating_correctness", "flags", "edit", "reason"]
    assert [o["value"] for o in questions["decision"]["settings"]["options"]] == ["accept", "reject"]
    assert questions["decision"]["required"] and not questions["edit"]["required"]
    assert [o["value"] for o in questions["rating_fluency"]["settings"]["options"]] == [1, 2, 3, 4, 5]
    assert questions["flags"]["settings"]["type"] == "multi_label_selection"
    assert [o["value"] for o in questions["flags"]["settings"]["options"]] == Flag.values
    assert questions["edit"]["settings"]["type"] == questions["reason"]["settings"]["type"] == "text"
    metadata = {m["name"] for m in pushed.children("metadata", dataset["id"])}
    assert {"language", "partner", "language_score", "quality_words"} <= metadata


def test_push_sends_records_with_portal_ids_metadata_and_language_id_suggestions(pushed, queue_de, records):
    (bulk,) = pushed.sent("PUT", r"/api/v1/datasets/.*/records/bulk")
    items = {item["external_id"]: item for item in bulk["items"]}
    assert set(items) == {str(r.pk) for r in records}
    german, french = items[str(records[0].pk)], items[str(records[2].pk)]
    assert german["fields"] == {"prompt": records[0].content["prompt"], "response": records[0].content["response"]}
    assert german["metadata"]["language"] == "de" and german["metadata"]["partner"] == "alpha"
    assert german["metadata"]["quality_words"] == records[0].quality["words"]
    assert french["metadata"]["detected_language"] == "fr"
    questions = {q["id"]: q["name"] for q in pushed.questions.values()}

    def suggested(item):
        return {questions[s["question_id"]]: s["value"] for s in item["suggestions"]}

    # Language ID disagrees with the queue: suggest rejecting it as in the wrong language.
    assert suggested(french) == {"decision": "reject", "flags": ["wrong_language"], "edit": records[2].content["response"]}
    assert suggested(german) == {"edit": records[0].content["response"]}  # the text to correct, prefilled


def test_pushing_again_updates_the_same_records_and_the_guidelines(pushed, queue_de, monkeypatch):
    queue_de.guidelines, queue_de.overlap, queue_de.consensus = "Neu: *streng* prüfen.", 3, 2
    queue_de.save()
    monkeypatch.setattr(argilla, "PUSH_BATCH", 2)
    assert argilla_push(queue_id=queue_de.pk).as_dict() == {**SyncResult().as_dict(), "pushed": 3}
    assert len(pushed.records) == 3 and len(pushed.datasets) == 1
    bulk = [e for e in pushed.exchanges if e.path.endswith("/records/bulk")]
    assert [len(e.body["items"]) for e in bulk] == [3, 2, 1]  # the first push, then this one in batches of 2
    assert sum(len(e.response["updated_item_ids"]) for e in bulk[1:]) == 3
    (dataset,) = pushed.datasets.values()
    assert dataset["guidelines"] == "Neu: *streng* prüfen." and dataset["distribution"]["min_submitted"] == 3


def test_pull_turns_submitted_answers_into_annotations_of_the_matching_users(pushed, queue_de, records, annotator_for):
    ulla, udo = annotator_for("ulla"), annotator_for("udo")
    for name in ("ulla", "udo", "zoe"):
        pushed.add_user(name, workspace="sprachen")
    first = records[0]
    annotate(pushed, queue_de, "ulla", first, decision="accept", rating_fluency=5, rating_correctness=4)
    annotate(pushed, queue_de, "udo", first, decision="accept", rating_fluency=4, edit=first.content["response"])
    annotate(pushed, queue_de, "zoe", first, decision="reject")  # no portal account
    annotate(pushed, queue_de, "ulla", records[1], status="draft", decision="accept")  # not submitted yet

    result = argilla_pull(queue_id=queue_de.pk)

    assert result.as_dict() == {**SyncResult().as_dict(), "pulled": 2, "unknown_user": 1, "removed": 1}
    answers = {a.annotator: a for a in Annotation.objects.filter(record=first)}
    assert set(answers) == {ulla, udo}
    assert answers[ulla].action == "accept" and answers[ulla].ratings == {"fluency": 5, "correctness": 4}
    assert answers[udo].action == "accept"  # the prefilled text, unchanged, is no edit
    assert answers[ulla].assignment.status == "submitted"
    first.refresh_from_db()
    assert first.status == Record.Status.ACCEPTED  # 2 of 2 agree: the queue's consensus rule
    assert first.decisions.get().votes == {"accept": 2}
    # Argilla's answers count against the overlap: the portal hands the record to nobody else.
    assert review_item_claim(queue=queue_de, annotator=annotator_for("uwe")).record == records[1]


def test_pulling_twice_creates_nothing_new(pushed, queue_de, records, annotator_for):
    annotator_for("ulla")
    pushed.add_user("ulla", workspace="sprachen")
    annotate(pushed, queue_de, "ulla", records[0], decision="accept")
    assert argilla_pull(queue_id=queue_de.pk).pulled == 1
    again = argilla_pull(queue_id=queue_de.pk)
    assert (again.pulled, again.known) == (0, 1)
    assert Annotation.objects.count() == 1


def test_an_edit_made_in_argilla_arrives_as_an_edit(pushed, queue_de, records, annotator_for):
    ulla, udo = annotator_for("ulla"), annotator_for("udo")
    for name in ("ulla", "udo"):
        pushed.add_user(name, workspace="sprachen")
    record = records[1]
    annotate(pushed, queue_de, "udo", record, decision="accept", edit="Das ist die bessere Antwort auf die Frage.")
    annotate(pushed, queue_de, "ulla", record, decision="reject", flags=["machine_translated"])

    assert argilla_pull(queue_id=queue_de.pk).pulled == 2

    edit = Annotation.objects.get(record=record, annotator=udo)
    assert edit.action == "edit"
    assert edit.edited_content == {"prompt": record.content["prompt"], "response": "Das ist die bessere Antwort auf die Frage."}
    assert edit.edit_record.submission.uploader == udo and edit.edit_record.status == Record.Status.PENDING
    flag = Annotation.objects.get(record=record, annotator=ulla)
    assert (flag.action, flag.flags) == ("flag", ["machine_translated"])  # a reject without a reason, with flags
    record.refresh_from_db()
    assert record.content == records[1].content and record.status == Record.Status.REJECTED


def test_the_language_mismatch_suggestion_taken_rejects_the_record(pushed, queue_de, records, annotator_for):
    annotator_for("ulla"), annotator_for("udo")
    for name in ("ulla", "udo"):
        pushed.add_user(name, workspace="sprachen")
    french = records[2]
    annotate(pushed, queue_de, "ulla", french, decision="reject", flags=["wrong_language"], reason="Französisch.")
    annotate(pushed, queue_de, "udo", french, decision="reject")
    argilla_pull(queue_id=queue_de.pk)
    answers = {a.annotator.username: a for a in Annotation.objects.filter(record=french)}
    assert (answers["ulla"].action, answers["ulla"].reason, answers["ulla"].flags) == ("reject", "Französisch.", ["wrong_language"])
    assert answers["udo"].action == "reject" and answers["udo"].reason  # a stock reason where Argilla gave none
    french.refresh_from_db()
    assert french.status == Record.Status.REJECTED


def test_answers_of_people_who_may_not_review_the_record_are_skipped(pushed, queue_de, records, member_a, staff):
    make_user("nora")  # a portal account, but not certified for German
    certification_grant(granter=staff, user=member_a, language_code="de")  # anna uploaded these records
    for name in ("nora", "anna"):
        pushed.add_user(name, workspace="sprachen")
    annotate(pushed, queue_de, "nora", records[0], decision="accept")
    annotate(pushed, queue_de, "anna", records[0], decision="accept")
    assert argilla_pull(queue_id=queue_de.pk).as_dict()["not_allowed"] == 2
    assert not Annotation.objects.exists()


def test_a_portal_lease_is_answered_by_the_same_persons_argilla_answer(pushed, queue_de, records, annotator_for):
    ulla = annotator_for("ulla")
    pushed.add_user("ulla", workspace="sprachen")
    lease = review_item_claim(queue=queue_de, annotator=ulla)
    annotate(pushed, queue_de, "ulla", lease.record, decision="accept")
    assert argilla_pull(queue_id=queue_de.pk).pulled == 1
    lease.refresh_from_db()
    assert lease.status == "submitted" and lease.annotation.action == "accept"


def test_a_discard_in_argilla_is_a_skip_that_frees_the_slot(pushed, queue_de, records, annotator_for):
    ulla, udo = annotator_for("ulla"), annotator_for("udo")
    for name in ("ulla", "udo"):
        pushed.add_user(name, workspace="sprachen")
    first, second, _third = sorted(records, key=lambda r: r.pk)  # the order the portal hands records out in
    # The UI discards with what the form held (here the prefilled text); the API may send no values at all.
    annotate(pushed, queue_de, "ulla", first, status="discarded", edit=first.content["response"])
    server_record = pushed.record_by_external_id(DATASET.format(queue_de.pk), first.pk)
    response = pushed.http.post(
        f"/api/v1/records/{server_record['id']}/responses", headers={"X-Argilla-Api-Key": "udo.apikey"},
        json={"status": "discarded", "values": None},
    )
    assert response.status_code == 201 and response.json()["values"] is None

    result = argilla_pull(queue_id=queue_de.pk)

    assert result.as_dict() == {**SyncResult().as_dict(), "skipped": 2}
    skips = Annotation.objects.filter(record=first).select_related("assignment")
    assert {(a.annotator, a.action, a.assignment.status) for a in skips} == {(ulla, "skip", "skipped"), (udo, "skip", "skipped")}
    first.refresh_from_db()
    assert first.status == Record.Status.PENDING and not ReviewDecision.objects.exists()  # a skip is no vote
    # As after a skip on the portal: the slots are free for others, and the skippers never get the record again.
    assert review_item_claim(queue=queue_de, annotator=annotator_for("uwe")).record == first
    assert review_item_claim(queue=queue_de, annotator=annotator_for("ute")).record == first
    assert review_item_claim(queue=queue_de, annotator=ulla).record == second

    again = argilla_pull(queue_id=queue_de.pk)
    assert again.as_dict() == {**SyncResult().as_dict(), "known": 2}
    assert Annotation.objects.filter(action="skip").count() == 2


def test_a_draft_is_left_until_it_is_discarded(pushed, queue_de, records, annotator_for):
    ulla = annotator_for("ulla")
    pushed.add_user("ulla", workspace="sprachen")
    draft = annotate(pushed, queue_de, "ulla", records[1], status="draft", decision="accept")
    assert argilla_pull(queue_id=queue_de.pk).as_dict() == SyncResult().as_dict()
    change(pushed, "ulla", draft, "discarded", decision="accept")
    assert argilla_pull(queue_id=queue_de.pk).skipped == 1
    assert Annotation.objects.get().annotator == ulla and Assignment.objects.get().status == "skipped"


def test_a_discard_answers_the_persons_portal_lease_with_a_skip(pushed, queue_de, records, annotator_for):
    ulla = annotator_for("ulla")
    pushed.add_user("ulla", workspace="sprachen")
    lease = review_item_claim(queue=queue_de, annotator=ulla)
    annotate(pushed, queue_de, "ulla", lease.record, status="discarded")
    assert argilla_pull(queue_id=queue_de.pk).skipped == 1
    lease.refresh_from_db()
    assert lease.status == "skipped" and lease.annotation.action == "skip"


# One record a page: deleting a page's record must not make the next page skip one.
@pytest.mark.parametrize("page", [1, argilla.PAGE])
def test_records_decided_on_the_portal_or_from_argilla_leave_the_dataset(pushed, queue_de, records, annotator_for, monkeypatch, page):
    monkeypatch.setattr(argilla, "PAGE", page)
    first, second, third = sorted(records, key=lambda r: r.pk)  # pushed, and listed by Argilla, in this order
    for name in ("ulla", "udo"):
        annotator_for(name)
        pushed.add_user(name, workspace="sprachen")
    # Decided on the portal: two accepts, the queue's consensus.
    assert answer_on_portal(queue_de, annotator_for("uwe"), "accept") == first
    assert answer_on_portal(queue_de, annotator_for("ute"), "accept") == first
    # Decided by answers given in Argilla.
    annotate(pushed, queue_de, "ulla", second, decision="reject", reason="Falsch.")
    annotate(pushed, queue_de, "udo", second, decision="reject", reason="Sinnlos.")
    gone = [pushed.record_by_external_id(DATASET.format(queue_de.pk), record.pk)["id"] for record in (first, second)]

    result = argilla_pull(queue_id=queue_de.pk)

    assert (result.pulled, result.removed) == (2, 2)
    assert [r["external_id"] for r in pushed.records.values()] == [str(third.pk)]  # the open one stays
    # DELETE /api/v1/datasets/{id}/records?ids=<id>,<id>: Argilla's own ids, up to a page of them at once.
    assert [sorted(ids) for ids in deletions(pushed)] == ([[i] for i in gone] if page == 1 else [sorted(gone)])
    # Pulling again, and pushing again, change nothing: the dataset holds the open record only.
    assert argilla_pull(queue_id=queue_de.pk).as_dict() == SyncResult().as_dict()  # their answers left with them
    assert argilla_push(queue_id=queue_de.pk).as_dict() == {**SyncResult().as_dict(), "pushed": 1}
    assert len(pushed.records) == 1 and sum(map(len, deletions(pushed))) == 2
    assert Annotation.objects.count() == 4


def test_a_disputed_record_leaves_the_dataset_on_push_and_stays_out_once_adjudicated(
    pushed, queue_de, records, annotator_for, lead_de
):
    record = answer_on_portal(queue_de, annotator_for("uwe"), "accept")
    assert answer_on_portal(queue_de, annotator_for("ute"), "reject", reason="Unklar.") == record
    decision = ReviewDecision.objects.get(record=record)
    assert decision.outcome == "disputed"  # the portal hands it out no more, so Argilla should not either
    assert argilla_push(queue_id=queue_de.pk).as_dict() == {**SyncResult().as_dict(), "pushed": 2, "removed": 1}
    review_adjudicate(lead=lead_de, decision=decision, outcome="accepted")
    assert argilla_push(queue_id=queue_de.pk).as_dict() == {**SyncResult().as_dict(), "pushed": 2}
    assert {int(r["external_id"]) for r in pushed.records.values()} == {r.pk for r in records} - {record.pk}


def test_a_push_takes_in_answers_given_in_argilla_before_their_record_leaves_it(pushed, queue_de, records, annotator_for):
    first = min(records, key=lambda r: r.pk)
    annotator_for("ulla")
    pushed.add_user("ulla", workspace="sprachen")
    annotate(pushed, queue_de, "ulla", first, decision="reject", reason="Falsch.")  # not pulled yet
    assert answer_on_portal(queue_de, annotator_for("uwe"), "accept") == first
    assert answer_on_portal(queue_de, annotator_for("ute"), "accept") == first  # decided on the portal meanwhile

    result = argilla_push(queue_id=queue_de.pk)

    assert result.pulled == 1 and result.removed == 1
    assert set(Annotation.objects.filter(record=first).values_list("annotator__username", flat=True)) == {
        "ulla", "uwe", "ute"}


def test_a_pull_an_admin_asked_for_leaves_its_counts_in_the_queues_history(pushed, queue_de, records, annotator_for, staff):
    annotator_for("ulla")
    pushed.add_user("ulla", workspace="sprachen")
    annotate(pushed, queue_de, "ulla", records[0], status="discarded")
    assert argilla_pull_queue(queue_de.pk, user_id=staff.pk)["skipped"] == 1
    entry = LogEntry.objects.get(object_id=str(queue_de.pk))
    assert entry.user == staff and "0 pulled, 1 skipped, 0 removed" in entry.get_change_message()
    argilla_pull_queue(queue_de.pk)  # the scheduled pull: nobody to tell
    assert LogEntry.objects.count() == 1


def test_the_scheduled_pull_visits_pushed_queues_only(pushed, queue_de, records, annotator_for, german, lead_de, monkeypatch):
    queue_create(creator=lead_de, language=german, kind="instruction", name="nicht gepusht")
    annotator_for("ulla")
    pushed.add_user("ulla", workspace="sprachen")
    annotate(pushed, queue_de, "ulla", records[0], decision="accept")
    monkeypatch.setitem(app.conf, "task_always_eager", True)  # the fanned-out pulls run here
    assert argilla_pull_all() == [queue_de.pk]
    assert Annotation.objects.get().annotator.username == "ulla"


def test_the_scheduled_pull_does_nothing_without_settings(settings):
    settings.ARGILLA_API_URL = None
    assert argilla_pull_all() == []


def test_conversations_are_pushed_as_chats_and_edited_in_their_last_answer(server, german, lead_de, member_a, partner_a, annotator_for):
    messages = [{"role": "user", "content": GERMAN[6] + " Was meinst du?"}, {"role": "assistant", "content": GERMAN[7]}]
    submission = submit(user=member_a, partner=partner_a, language=german, kind="conversation", content=jsonl([{"messages": messages}]))
    record = ingest_now(submission).records.get()
    queue = queue_create(
        creator=lead_de, language=german, kind="conversation", name="Gespräche", overlap=1, rating_scales=["Gute Sprache"]
    )
    argilla_push(queue_id=queue.pk)
    dataset = server.dataset_named(DATASET.format(queue.pk))
    assert {f["name"]: f["settings"]["type"] for f in server.children("fields", dataset["id"])} == {"conversation": "chat"}
    assert server.record_by_external_id(dataset["name"], record.pk)["fields"] == {"conversation": record.content["messages"]}
    udo = annotator_for("udo")
    server.add_user("udo", workspace="sprachen")
    annotate(server, queue, "udo", record, decision="reject", edit=GERMAN[8], rating_gute_sprache=2)
    argilla_pull(queue_id=queue.pk)
    edit = Annotation.objects.get(annotator=udo)
    assert edit.action == "edit" and edit.edited_content["messages"] == [messages[0], {"role": "assistant", "content": GERMAN[8]}]
    assert edit.ratings == {"Gute Sprache": 2}  # the scale's name, not Argilla's name for its question


def test_pulling_a_queue_never_pushed_finds_nothing(server, queue_de):
    assert argilla_pull(queue_id=queue_de.pk).as_dict() == SyncResult().as_dict()
    assert not server.datasets


@pytest.mark.parametrize("kind, fields", [
    ("pretraining", {"text": "text"}),
    ("instruction", {"prompt": "text", "response": "text"}),
    ("conversation", {"conversation": "chat"}),
    ("evaluation", {"question": "text", "choices": "text"}),
])
def test_each_kind_has_fields_for_its_content(kind, fields):
    spec = argilla.DatasetSpec(queue_id=1, kind=kind, guidelines="", overlap=1, rating_scales=[], flags={"toxic": "Toxic"})
    settings = argilla.dataset_settings(spec)
    assert {field.name: field._model.settings.type for field in settings.fields} == fields
    assert settings.questions["edit"].title == argilla.EDIT_TITLES[kind]


def test_only_the_adapter_imports_the_sdk():
    root = Path(__file__).resolve().parents[2]
    sources = [p for package in ("occiportal", "annotation", "training") for p in (root / package).rglob("*.py")]
    importers = {str(p.relative_to(root)) for p in sources if SDK_IMPORT.search(p.read_text(encoding="utf-8"))}
    assert importers == {"annotation/argilla.py"}
