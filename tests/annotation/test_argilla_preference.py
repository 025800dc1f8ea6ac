"""Preference records through the Argilla bridge: a RankingQuestion out, the portal's judgements back."""

import pytest
from django.core.exceptions import ValidationError

from annotation import argilla
from annotation.models import Annotation, Assignment, Record
from annotation.review_selectors import queue_agreement
from annotation.services.argilla_preference import preference_answer, shown_order
from annotation.services.argilla_sync import argilla_pull, argilla_push
from annotation.services.review import queue_create, review_item_claim, review_submit

from .ingest_helpers import ingest_now, jsonl, submit
from .test_argilla_bridge import DATASET, annotate, server  # noqa: F401 (a fixture)
from .texts import GERMAN

pytestmark = pytest.mark.django_db

TURNS = [{"role": "system", "content": "Du bist hilfsbereit."}, {"role": "user", "content": GERMAN[0] + " Warum?"}]
LINES = [
    {"prompt": TURNS, "responses": [GERMAN[1], GERMAN[2], GERMAN[3]], "ranking": [2, 0, 1]},
    {"prompt": GERMAN[4] + " Wie?", "chosen": GERMAN[5], "rejected": GERMAN[6]},
]


@pytest.fixture
def queue(lead_de, german):
    return queue_create(creator=lead_de, language=german, kind="preference", name="Präferenzen", overlap=2, consensus=2)


@pytest.fixture
def records(member_a, partner_a, german):
    submission = ingest_now(submit(user=member_a, partner=partner_a, language=german, kind="preference", content=jsonl(LINES)))
    return list(submission.records.order_by("line"))


@pytest.fixture
def pushed(server, queue, records, annotator_for):  # noqa: F811
    assert argilla_push(queue_id=queue.pk).pushed == 2
    for name in ("ulla", "udo"):
        annotator_for(name)
        server.add_user(name, workspace="sprachen")
    return server


def ranks(record, best_first: list[int]) -> list[dict]:
    """What Argilla's UI sends for a ranking of the record's responses by stored number, best first."""
    order = shown_order(record.pk, 3 if isinstance(record.content["rejected"], list) else 2)
    ranked = [{"value": argilla.response_field(order.index(index) + 1), "rank": rank}
              for rank, index in enumerate(best_first, 1)]
    return ranked + [{"value": argilla.response_field(n), "rank": 3} for n in range(len(order) + 1, 4)]


def test_push_shows_the_prompt_as_a_chat_and_the_responses_shuffled_to_rank(pushed, queue, records):
    dataset = pushed.dataset_named(DATASET.format(queue.pk))
    fields = {f["name"]: (f["settings"]["type"], f["required"]) for f in pushed.children("fields", dataset["id"])}
    assert fields == {"prompt": ("chat", True), "response_1": ("text", True), "response_2": ("text", True),
                      "response_3": ("text", False)}  # the most responses an open record has
    questions = {q["name"]: q for q in pushed.children("questions", dataset["id"])}
    assert list(questions) == ["verdict", "ranking", "flags", "written"] and questions["verdict"]["required"]
    assert [o["value"] for o in questions["ranking"]["settings"]["options"]] == ["response_1", "response_2", "response_3"]
    ranking, pair = (pushed.record_by_external_id(dataset["name"], r.pk)["fields"] for r in records)
    stored = [GERMAN[3], GERMAN[1], GERMAN[2]]  # chosen first, then the rejected best first
    assert ranking == {"prompt": TURNS} | {f"response_{n}": stored[i] for n, i in enumerate(shown_order(records[0].pk, 3), 1)}
    assert pair["prompt"] == [{"role": "user", "content": GERMAN[4] + " Wie?"}] and "response_3" not in pair
    assert shown_order(records[0].pk, 3) == shown_order(records[0].pk, 3)  # the same on every push and pull


def test_rankings_from_argilla_are_the_judgements_a_portal_reviewer_gives(pushed, queue, records, django_user_model):
    ranking = records[0]
    annotate(pushed, queue, "ulla", ranking, verdict="ranked", ranking=ranks(ranking, [1, 0, 2]))
    annotate(pushed, queue, "udo", ranking, verdict="ranked", ranking=ranks(ranking, [1, 2, 0]), written=GERMAN[7])

    result = argilla_pull(queue_id=queue.pk)

    assert (result.pulled, result.invalid) == (2, 0)
    answers = {a.annotator.username: a for a in Annotation.objects.filter(record=ranking)}
    assert answers["ulla"].action == "judge" and answers["ulla"].judgement == {"type": "ranking", "ranking": [1, 0, 2]}
    assert answers["udo"].judgement == {"type": "ranking", "ranking": [1, 2, 0], "written": GERMAN[7]}
    ranking.refresh_from_db()
    assert ranking.status == Record.Status.ACCEPTED and ranking.decisions.get().votes == {"best:1": 2}
    assert ranking.content["chosen"] == GERMAN[1]
    written = Record.objects.get(meta__source_record=ranking.pk)
    assert written.content == {"prompt": TURNS, "chosen": GERMAN[7], "rejected": GERMAN[1]}

    # The same answers given on the portal count the same in agreement.
    from_argilla = queue_agreement(queue)
    assert from_argilla["kendall_w"].items == 1 and 0 < from_argilla["kendall_w"].value < 1
    Annotation.objects.all().delete()
    Assignment.objects.all().delete()
    Record.objects.filter(pk=ranking.pk).update(status=Record.Status.PENDING)
    Record.objects.exclude(pk=ranking.pk).update(status=Record.Status.REJECTED)  # claim the ranking only
    ranking.decisions.all().delete()
    for name, order in (("ulla", [1, 0, 2]), ("udo", [1, 2, 0])):
        lease = review_item_claim(queue=queue, annotator=django_user_model.objects.get(username=name))
        assert lease.record == ranking
        review_submit(assignment=lease, action="judge", judgement={"type": "ranking", "ranking": order})
    assert queue_agreement(queue) == from_argilla


def test_a_pair_ranked_in_a_dataset_of_three_ignores_the_empty_place(pushed, queue, records):
    pair = records[1]
    annotate(pushed, queue, "ulla", pair, verdict="ranked", ranking=ranks(pair, [1, 0]))
    annotate(pushed, queue, "udo", pair, verdict="tie", ranking=ranks(pair, [0, 1]))
    argilla_pull(queue_id=queue.pk)
    judgements = {a.annotator.username: a.judgement for a in Annotation.objects.filter(record=pair)}
    assert judgements == {"ulla": {"type": "best", "best": 1, "count": 2}, "udo": {"type": "tie"}}
    assert pair.decisions.get().outcome == "disputed"


def test_flags_tie_and_both_bad(pushed, queue, records):
    pair = records[1]
    annotate(pushed, queue, "ulla", pair, verdict="both_bad", flags=["toxic"])
    annotate(pushed, queue, "udo", pair, verdict="both_bad")
    argilla_pull(queue_id=queue.pk)
    answers = {a.annotator.username: a for a in Annotation.objects.filter(record=pair)}
    assert answers["ulla"].action == "flag" and answers["ulla"].flags == ["toxic"]
    assert answers["udo"].judgement == {"type": "both_bad"}


def test_an_answer_that_names_no_best_is_invalid(pushed, queue, records):
    ranking = records[0]
    order = shown_order(ranking.pk, 3)
    shared_first = [{"value": argilla.response_field(n), "rank": 1 if order[n - 1] != 1 else 2} for n in (1, 2, 3)]
    annotate(pushed, queue, "ulla", ranking, verdict="ranked", ranking=shared_first)
    annotate(pushed, queue, "udo", ranking, verdict="ranked")  # no ranking given
    assert argilla_pull(queue_id=queue.pk).invalid == 2
    assert not Annotation.objects.exists()


def test_every_first_place_shared_is_a_tie(records):
    pair = records[1]
    response = argilla.PulledResponse(
        record_id=pair.pk, username="ulla", status="submitted", decision=None, ratings={}, flags=[], reason="",
        edit_text="", values={"verdict": "ranked", "ranking": [{"value": "response_1", "rank": 1},
                                                              {"value": "response_2", "rank": 1}]},
    )
    assert preference_answer(pair, response) == {"action": "judge", "judgement": {"type": "tie"}}
    with pytest.raises(ValidationError):
        preference_answer(pair, response.__class__(**{**response.__dict__, "values": {}}))


def test_a_record_with_more_responses_than_the_dataset_shows_stays_on_the_portal(pushed, queue, member_a, partner_a, german):
    line = {"prompt": GERMAN[8] + "?", "responses": [GERMAN[9], GERMAN[10], GERMAN[11], GERMAN[12]], "ranking": [0, 1, 2, 3]}
    ingest_now(submit(user=member_a, partner=partner_a, language=german, kind="preference", content=jsonl([line])))
    result = argilla_push(queue_id=queue.pk)
    assert result.pushed == 2 and result.kept_back == 1  # the dataset shows three
