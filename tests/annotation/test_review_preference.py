"""Review of preference records: claim, judge, tie, both bad, consensus, adjudication, written responses, agreement."""

import hashlib
import re
import random

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from scipy.stats import friedmanchisquare, rankdata

from annotation.models import Annotation, Assignment, Record, ReviewDecision
from annotation.review_selectors import queue_agreement, queue_annotator_rows
from annotation.services.agreement import kendall_w, pairwise_agreement
from annotation.services.review import queue_create, review_adjudicate, review_item_claim, review_submit
from annotation.services.review_preference import preference_order_show
from tests.annotation.conftest import bare_submission

pytestmark = pytest.mark.django_db

PAIR = {"prompt": "Wie spät ist es?", "chosen": "Es ist acht Uhr.", "rejected": "Keine Ahnung."}
RANKING = {"prompt": "Nenne eine Farbe.", "chosen": "Blau.", "rejected": ["Grün.", "Ich mag Käse."]}


@pytest.fixture
def preference_queue(lead_de, german):
    return queue_create(creator=lead_de, language=german, kind="preference", name="Deutsch: Präferenzen")


@pytest.fixture
def make_preference(partner_a, member_a, german):
    submission = bare_submission(partner=partner_a, uploader=member_a, language=german, kind="preference")

    def make(content):
        line = submission.records.count() + 1
        return Record.objects.create(
            submission=submission, line=line, language=german, kind="preference", content=content,
            content_hash=hashlib.md5(f"{submission.pk}:{line}".encode()).hexdigest(),
        )

    return make


@pytest.fixture
def judge(preference_queue, annotator_for):
    def give(name, judgement, action="judge", **fields):
        assignment = review_item_claim(queue=preference_queue, annotator=annotator_for(name))
        return review_submit(assignment=assignment, action=action, judgement=judgement, **fields)

    return give


def test_the_order_shown_is_shuffled_once_and_kept(preference_queue, make_preference, annotator_for):
    make_preference(RANKING)
    assignment = review_item_claim(queue=preference_queue, annotator=annotator_for("ulla"))
    order = preference_order_show(assignment=assignment, rng=random.Random(3))
    assert sorted(order) == [0, 1, 2]
    assignment.refresh_from_db()
    assert assignment.shown_order == order
    assert preference_order_show(assignment=assignment, rng=random.Random(4)) == order  # a reload shows the same


def test_a_typed_judgement_is_stored_on_the_answer(preference_queue, make_preference, judge, annotator_for):
    make_preference(PAIR)
    answer = judge("ulla", {"type": "best", "best": 1})
    assert answer.judgement == {"type": "best", "best": 1, "count": 2} and answer.decision is None
    assignment = review_item_claim(queue=preference_queue, annotator=annotator_for("udo"))
    for action, wrong in [("judge", {"type": "best", "best": 2}), ("judge", {"type": "ranking", "ranking": [0, 0]}),
                          ("judge", {"type": "maybe"}), ("accept", None)]:  # a preference item is not accepted
        with pytest.raises(ValidationError):
            review_submit(assignment=assignment, action=action, judgement=wrong)
    assert review_submit(assignment=assignment, action="judge", judgement={"type": "tie"}).judgement == {"type": "tie"}


def test_agreeing_on_the_best_accepts_and_reorders_the_record(make_preference, judge):
    record = make_preference(RANKING)
    judge("ulla", {"type": "ranking", "ranking": [1, 2, 0]})
    judge("udo", {"type": "best", "best": 1})
    record.refresh_from_db()
    assert record.status == Record.Status.ACCEPTED
    assert record.decisions.get().votes == {"best:1": 2}
    assert record.content == {"prompt": "Nenne eine Farbe.", "chosen": "Grün.", "rejected": ["Ich mag Käse.", "Blau."]}
    assert record.meta["original_responses"] == ["Blau.", "Grün.", "Ich mag Käse."]
    assert record.meta["reviewed_order"] == [1, 2, 0]


def test_a_pair_keeps_its_shape_when_reordered(make_preference, judge):
    record = make_preference(PAIR)
    judge("ulla", {"type": "best", "best": 1})
    judge("udo", {"type": "best", "best": 1})
    record.refresh_from_db()
    assert record.content["chosen"] == "Keine Ahnung." and record.content["rejected"] == "Es ist acht Uhr."


@pytest.mark.parametrize("answer", ["tie", "both_bad"])
def test_agreeing_on_a_tie_or_both_bad_rejects_the_record(make_preference, judge, answer):
    record = make_preference(PAIR)
    judge("ulla", {"type": answer})
    judge("udo", {"type": answer})
    record.refresh_from_db()
    assert record.status == Record.Status.REJECTED and record.decisions.get().votes == {answer: 2}
    assert record.content == PAIR  # nothing reordered


def test_a_tie_against_a_pick_is_disputed_and_the_lead_adjudicates(make_preference, judge, lead_de):
    record = make_preference(RANKING)
    judge("ulla", {"type": "tie"})
    judge("udo", {"type": "best", "best": 2})
    decision = record.decisions.get()
    assert decision.outcome == ReviewDecision.Outcome.DISPUTED and decision.votes == {"tie": 1, "best:2": 1}
    with pytest.raises(ValidationError):  # accepting a preference names the best response
        review_adjudicate(lead=lead_de, decision=decision, outcome="accepted")
    review_adjudicate(lead=lead_de, decision=decision, outcome="accepted", best=2, note="Käse ist am besten.")
    record.refresh_from_db()
    assert record.status == Record.Status.ACCEPTED and record.content["chosen"] == "Ich mag Käse."
    assert record.meta["reviewed_order"] == [2, 0, 1]


def test_a_written_better_response_becomes_a_pair_against_the_consensus_best(make_preference, judge, annotator_for):
    record = make_preference(PAIR)
    judge("ulla", {"type": "best", "best": 0, "written": "Es ist genau acht Uhr morgens."})
    answer = judge("udo", {"type": "best", "best": 0})
    assert answer.decision.outcome == "accepted"
    written = Record.objects.get(meta__source_record=record.pk)
    assert written.edit_of is None  # a pair of its own beside the original, not in its place in a snapshot
    assert written.kind == "preference" and written.status == Record.Status.PENDING
    assert written.content == {"prompt": "Wie spät ist es?", "chosen": "Es ist genau acht Uhr morgens.",
                               "rejected": "Es ist acht Uhr."}
    assert written.submission.uploader.username == "ulla"
    assert record.annotations.get(annotator__username="ulla").edit_record == written


def test_agreement_figures_of_a_preference_queue(preference_queue, make_preference, judge, annotator_for):
    make_preference(RANKING)
    make_preference(RANKING | {"prompt": "Nenne ein Tier."})
    rankings = {"ulla": [[0, 1, 2], [2, 1, 0]], "udo": [[0, 2, 1], [2, 0, 1]], "uwe": [[1, 0, 2], [0, 1, 2]]}
    annotators = {name: annotator_for(name) for name in rankings}
    preference_queue.overlap, preference_queue.consensus = 3, 2
    preference_queue.save(update_fields=["overlap", "consensus"])
    for _item in range(2):
        for name, given in rankings.items():
            assignment = review_item_claim(queue=preference_queue, annotator=annotators[name])
            ranking = given[0 if assignment.record.content["prompt"] == "Nenne eine Farbe." else 1]
            review_submit(assignment=assignment, action="judge", judgement={"type": "ranking", "ranking": ranking})
    figures = queue_agreement(preference_queue)
    # Best picks: item 1 is 0, 0, 1 (one agreeing pair of three); item 2 is 2, 2, 0 (one of three).
    assert figures["pairwise"].items == 2 and figures["pairwise"].value == pytest.approx(2 / 6)
    expected = []
    for item in range(2):
        ranks = [[r.index(i) + 1 for i in range(3)] for r in (given[item] for given in rankings.values())]
        expected.append(_kendall_w_reference(ranks))
    assert figures["kendall_w"].items == 2
    assert figures["kendall_w"].value == pytest.approx(sum(expected) / 2)


def _kendall_w_reference(ranks):
    # Friedman's chi-square and Kendall's W: W = chi² / (m (n − 1)), scipy applying the same tie correction.
    m, n = len(ranks), len(ranks[0])
    return friedmanchisquare(*zip(*ranks)).statistic / (m * (n - 1))


@pytest.mark.parametrize("seed", range(5))
def test_kendall_w_matches_friedman_with_ties(seed):
    rng = random.Random(seed)
    ranks = [list(rankdata([rng.randint(1, 3) for _ in range(5)])) for _ in range(4)]
    assert kendall_w(ranks) == pytest.approx(_kendall_w_reference(ranks))


def test_kendall_w_by_hand():
    # Three raters in perfect agreement on four objects: W = 1; one reversed rater of two: W = 0.
    assert kendall_w([[1, 2, 3, 4]] * 3) == pytest.approx(1)
    assert kendall_w([[1, 2, 3], [3, 2, 1]]) == pytest.approx(0)
    # Textbook: rank sums 5, 7, 6, 12 (m = 3, n = 4): S = 29, W = 12·29 / (9·60) = 0.6444.
    assert kendall_w([[1, 3, 2, 4], [2, 1, 3, 4], [2, 3, 1, 4]]) == pytest.approx(12 * 29 / (9 * 60))


def test_pairwise_agreement_by_hand():
    assert pairwise_agreement([["a", "a", "b"], ["a"], ["t", "t"]]).value == pytest.approx(2 / 4)
    assert pairwise_agreement([["a"]]).value is None


def test_the_work_page_shows_the_recorded_order_and_maps_a_pick_back(
    client, preference_queue, make_preference, annotator_for
):
    record = make_preference(RANKING)
    client.force_login(ulla := annotator_for("ulla"))
    assignment = review_item_claim(queue=preference_queue, annotator=ulla)
    Assignment.objects.filter(pk=assignment.pk).update(shown_order=[2, 0, 1])
    page = client.get(reverse("review_item", args=[assignment.pk]))
    assert page.status_code == 200
    texts = [page.text.index(text) for text in ("Ich mag Käse.", "Blau.", "Grün.")]
    assert texts == sorted(texts)  # shown as recorded
    reply = client.post(reverse("review_item", args=[assignment.pk]), {"answer": "ranking", "ranking": "3,1,2"})
    assert reply.status_code == 302
    # Shown position 3 is stored response 1 (Grün), 1 is 2 (Käse), 2 is 0 (Blau).
    assert record.annotations.get().judgement == {"type": "ranking", "ranking": [1, 2, 0]}


def test_the_work_page_refuses_an_unknown_position(client, preference_queue, make_preference, annotator_for):
    make_preference(PAIR)
    client.force_login(ulla := annotator_for("ulla"))
    assignment = review_item_claim(queue=preference_queue, annotator=ulla)
    reply = client.post(reverse("review_item", args=[assignment.pk]), {"answer": "best-3"})
    assert reply.status_code == 400 and not Annotation.objects.exists()
    reply = client.post(reverse("review_item", args=[assignment.pk]), {"answer": "best-2", "written": "Acht Uhr genau."})
    assert reply.status_code == 302
    stored = Annotation.objects.get().judgement
    assert stored["best"] == Assignment.objects.get(pk=assignment.pk).shown_order[1]
    assert stored["written"] == "Acht Uhr genau."


def test_the_lead_adjudicates_a_preference_on_the_page(client, make_preference, judge, lead_de):
    record = make_preference(PAIR)
    judge("ulla", {"type": "tie"})
    judge("udo", {"type": "both_bad"})
    decision = record.decisions.get()
    client.force_login(lead_de)
    page = client.get(reverse("review_adjudication"))
    assert "Keine Ahnung." in page.text and 'name="best" value="2"' in page.text
    client.post(reverse("review_adjudicate", args=[decision.pk]), {"outcome": "accepted"})
    assert ReviewDecision.objects.get(pk=decision.pk).outcome == "disputed"  # no best named: nothing decided
    client.post(reverse("review_adjudicate", args=[decision.pk]), {"outcome": "accepted", "best": "2"})
    record.refresh_from_db()
    assert record.status == Record.Status.ACCEPTED and record.content["chosen"] == "Keine Ahnung."


def test_the_queue_page_shows_the_preference_figures(client, preference_queue, lead_de):
    client.force_login(lead_de)
    page = client.get(reverse("review_queue", args=[preference_queue.pk]))
    assert 'data-figure="pairwise"' in page.text and 'data-figure="kendall-w"' in page.text
    assert 'data-figure="fleiss"' not in page.text


def test_a_second_adjudication_numbers_the_responses_as_uploaded(make_preference, judge, lead_de):
    record = make_preference(RANKING)
    judge("ulla", {"type": "tie"})
    judge("udo", {"type": "best", "best": 2})
    decision = record.decisions.get()
    review_adjudicate(lead=lead_de, decision=decision, outcome="accepted", best=2)
    review_adjudicate(lead=lead_de, decision=decision, outcome="accepted", best=1)
    record.refresh_from_db()
    assert record.content["chosen"] == "Grün." and record.meta["original_responses"] == ["Blau.", "Grün.", "Ich mag Käse."]


def test_the_queue_page_lists_preference_annotators(client, preference_queue, make_preference, judge, lead_de):
    make_preference(PAIR)
    judge("ulla", {"type": "best", "best": 0})
    judge("udo", {"type": "both_bad"})
    client.force_login(lead_de)
    page = client.get(reverse("review_queue", args=[preference_queue.pk]))
    assert page.status_code == 200 and "ulla" in page.text
    assert re.search(r'data-figure="pairwise">\s*0\.00', page.text)


def test_annotators_agree_with_the_majority_on_the_best_response(preference_queue, make_preference, judge):
    make_preference(PAIR)
    judge("ulla", {"type": "best", "best": 1})
    judge("udo", {"type": "ranking", "ranking": [1, 0]})  # the same best response, ranked
    rows = {row["annotator"]: row for row in queue_annotator_rows(preference_queue)}
    assert rows["ulla"]["agreement"] == 1 and rows["udo"]["agreement"] == 1
