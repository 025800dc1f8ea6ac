"""Review's hot path: next-item and submit in bounded queries; the claim's SQL held to the selectors' rules."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.models import Record
from annotation.review_selectors import is_queue_visible_to, queue_records, queues_visible_to
from annotation.services.review import certification_grant, queue_create, review_item_claim, review_submit
from occiportal.models import Language
from tests.annotation.conftest import make_lead, make_records
from tests.annotation.ingest_helpers import jsonl, submit
from tests.conftest import language, make_user

pytestmark = pytest.mark.django_db

# Statements per request. Each count includes the SAVEPOINT and RELEASE of
# the service's transaction (a test runs inside one), and none grows with
# the queue: no query per record, lease or answer.
NEXT_ITEM = 7  # token; queue, certifications; the claim, the lease
SUBMIT = 8  # token; assignment; locks, answered, the answer, the votes
SUBMIT_DECIDING = 11  # … and the decision: none yet, taken, the record's status


def api(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_next_item_and_submit_run_in_a_bounded_number_of_queries(
    queue_de, submission_de, annotator_for, django_assert_max_num_queries
):
    make_records(submission_de, 30)
    for name in ("uwe", "ute", "udo"):  # leases and answers already in the queue
        review_submit(assignment=review_item_claim(queue=queue_de, annotator=annotator_for(name)), action="skip")
    ulla, uli = api(annotator_for("ulla")), api(annotator_for("uli"))
    claim_url = reverse("api:review-claim", args=[queue_de.pk])

    with django_assert_max_num_queries(NEXT_ITEM):
        item = ulla.post(claim_url).json()
    with django_assert_max_num_queries(NEXT_ITEM):  # asking again: the lease held
        assert ulla.post(claim_url).json()["id"] == item["id"]
    with django_assert_max_num_queries(SUBMIT):
        first = ulla.post(reverse("api:review-submit", args=[item["id"]]), {"action": "accept"}, format="json")
    assert first.json()["decision"] is None

    second = uli.post(claim_url).json()
    assert second["record"]["id"] == item["record"]["id"]
    with django_assert_max_num_queries(SUBMIT_DECIDING):
        decided = uli.post(reverse("api:review-submit", args=[second["id"]]), {"action": "accept"}, format="json")
    assert decided.json()["decision"] == "accepted"


def test_the_claim_hands_out_exactly_the_records_of_the_queue(
    lead_de, german, partner_a, partner_b, member_a, member_b, annotator_for
):
    """Narrowed to submissions and partners, and sampled: the claim's SQL and ``queue_records`` agree."""
    ours = submit(user=member_a, partner=partner_a, language=german, content=jsonl([{"text": "a"}]))
    theirs = submit(user=member_b, partner=partner_b, language=german, content=jsonl([{"text": "b"}]))
    left_out = submit(user=member_a, partner=partner_a, language=german, content=jsonl([{"text": "c"}]))
    for submission in (ours, theirs, left_out):
        make_records(submission, 40)
    make_records(ours, 5, status=Record.Status.ACCEPTED)
    queue = queue_create(creator=lead_de, language=german, kind="pretraining", name="Stichprobe", sample_rate=0.5,
                         submissions=[ours, theirs], partners=[partner_a])
    ulla = annotator_for("ulla")
    claimed = []
    while (assignment := review_item_claim(queue=queue, annotator=ulla)) is not None:
        claimed.append(assignment.record_id)
        review_submit(assignment=assignment, action="skip")
    expected = queue_records(queue).filter(status=Record.Status.PENDING).values_list("pk", flat=True)
    assert 0 < len(claimed) < 40
    assert claimed == sorted(expected)  # oldest first, each once


def test_access_to_one_queue_agrees_with_the_queue_list(staff, member_a):
    portuguese, german = language("pt"), language("de")
    brazilian = Language.objects.create(code="pt-BR", name_en="Portuguese (Brazil)", name_native="Português (Brasil)")
    queues = {queue_create(creator=staff, language=lang, kind="instruction", name=lang.code)
              for lang in (portuguese, brazilian, german)}
    people = [staff, member_a, AnonymousUser(), make_lead("pedro", portuguese), make_lead("bia", brazilian)]
    for name, code in (("paula", "pt"), ("bruna", "pt-BR"), ("dora", "de")):
        people.append(make_user(name))
        certification_grant(granter=staff, user=people[-1], language_code=code)
    for person in people:
        assert {queue for queue in queues if is_queue_visible_to(person, queue)} == set(queues_visible_to(person))
