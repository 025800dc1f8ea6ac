"""Review through the REST API with token auth: someone else's object is a 404."""

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.models import Record, ReviewDecision
from annotation.services.review import queue_create, review_item_claim, review_submit
from tests.annotation.conftest import make_lead, make_records
from tests.annotation.ingest_helpers import jsonl, submit
from tests.conftest import language

pytestmark = pytest.mark.django_db


def api(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_claim_submit_and_stats(queue_de, submission_de, annotator_for):
    make_records(submission_de, 1)
    ulla, udo = api(annotator_for("ulla")), api(annotator_for("udo"))
    assert [q["name"] for q in ulla.get(reverse("api:review-queues")).json()["results"]] == ["Deutsch: Anweisungen"]
    claim = ulla.post(reverse("api:review-claim", args=[queue_de.pk]))
    assert claim.status_code == 201
    item = claim.json()
    assert item["record"]["language"] == "de" and item["record"]["content"]["prompt"].startswith("Frage")
    answer = {"action": "accept", "ratings": {"fluency": 5}}
    assert ulla.post(reverse("api:review-submit", args=[item["id"]]), answer, format="json").status_code == 201
    second = udo.post(reverse("api:review-claim", args=[queue_de.pk])).json()
    done = udo.post(reverse("api:review-submit", args=[second["id"]]), {"action": "accept"}, format="json")
    assert done.json()["decision"] == "accepted"
    assert udo.post(reverse("api:review-claim", args=[queue_de.pk])).status_code == 204
    stats = ulla.get(reverse("api:review-stats", args=[queue_de.pk])).json()
    assert stats["progress"]["accepted"] == 1 and stats["progress"]["remaining"] == 0
    assert {row["annotator"] for row in stats["annotators"]} == {"ulla", "udo"}
    assert stats["agreement"]["fleiss"]["items"] == 1


def test_bad_answers_are_400(queue_de, submission_de, annotator_for):
    make_records(submission_de, 1)
    client = api(annotator_for("ulla"))
    item = client.post(reverse("api:review-claim", args=[queue_de.pk])).json()
    url = reverse("api:review-submit", args=[item["id"]])
    assert client.post(url, {"action": "reject"}, format="json").json() == {"reason": ["Say why you reject it."]}
    assert client.post(url, {"action": "accept", "ratings": {"fluency": 9}}, format="json").status_code == 400
    assert client.post(url, {"action": "flag", "flags": ["boring"]}, format="json").status_code == 400


def test_a_german_annotator_cannot_reach_polish_records(staff, partner_a, member_a, annotator_for, queue_de):
    polish = language("pl")
    make_records(submit(user=member_a, partner=partner_a, language=polish, kind="instruction",
                        content=jsonl([{"prompt": "a", "response": "b"}])), 1)
    queue_pl = queue_create(creator=staff, language=polish, kind="instruction", name="Polski")
    polish_annotator = annotator_for("piotr", "pl")
    assignment = review_item_claim(queue=queue_pl, annotator=polish_annotator)
    german = api(annotator_for("ulla"))
    assert german.post(reverse("api:review-claim", args=[queue_pl.pk])).status_code == 404
    assert german.get(reverse("api:review-stats", args=[queue_pl.pk])).status_code == 404
    assert german.post(reverse("api:review-submit", args=[assignment.pk]), {"action": "accept"}, format="json").status_code == 404
    # Seeing a queue is not being certified for it: a lead who is no annotator gets 403 on claim.
    lead = api(make_lead("lena2", polish))
    assert lead.post(reverse("api:review-claim", args=[queue_pl.pk])).status_code == 403


def test_token_is_required(queue_de):
    assert APIClient().post(reverse("api:review-claim", args=[queue_de.pk])).status_code == 401


def test_adjudication_through_the_api(queue_de, submission_de, annotator_for, lead_de):
    make_records(submission_de, 1)
    review_submit(assignment=review_item_claim(queue=queue_de, annotator=annotator_for("ulla")), action="accept")
    review_submit(assignment=review_item_claim(queue=queue_de, annotator=annotator_for("udo")), action="skip")
    review_submit(assignment=review_item_claim(queue=queue_de, annotator=annotator_for("uwe")), action="reject", reason="Nein.")
    decision = ReviewDecision.objects.get()
    assert api(annotator_for("ute")).post(reverse("api:review-adjudicate", args=[decision.pk]), {"outcome": "accepted"}).status_code == 404
    lead = api(lead_de)
    assert [d["id"] for d in lead.get(reverse("api:review-disputed")).json()["results"]] == [decision.pk]
    decided = lead.post(reverse("api:review-adjudicate", args=[decision.pk]), {"outcome": "rejected", "note": "Falsch."})
    assert decided.status_code == 200 and decided.json()["outcome"] == "rejected"


def test_leads_open_queues_and_certify_through_the_api(lead_de, german, french, staff):
    from annotation.models import Certification
    from tests.conftest import make_user

    lead = api(lead_de)
    opened = lead.post(reverse("api:review-queues"), {"name": "Paare", "language": "de", "kind": "instruction",
                                                     "rating_scales": ["fluency"]}, format="json")
    assert opened.status_code == 201 and opened.json()["overlap"] == 2 and opened.json()["consensus"] == 2
    assert lead.post(reverse("api:review-queues"), {"name": "x", "language": "fr", "kind": "instruction"},
                     format="json").status_code == 404
    assert lead.post(reverse("api:review-queues"), {"name": "x", "language": "de", "kind": "instruction",
                                                    "sample_rate": 0.5}, format="json").status_code == 400
    make_user("neu")
    granted = lead.post(reverse("api:review-certifications"), {"user": "neu", "language_code": "de"}, format="json")
    assert granted.status_code == 201 and granted.json()["granted_by"] == "lena"
    assert lead.post(reverse("api:review-certifications"), {"user": "neu", "language_code": "fr"},
                     format="json").status_code == 403
    assert [c["user"] for c in lead.get(reverse("api:review-certifications")).json()["results"]] == ["neu"]
    french_one = Certification.objects.create(user=make_user("jean"), language_code="fr", granted_by=staff)
    assert lead.post(reverse("api:review-certification-withdraw", args=[french_one.pk])).status_code == 404
    withdrawn = lead.post(reverse("api:review-certification-withdraw", args=[granted.json()["id"]]))
    assert withdrawn.json()["withdrawn_at"] is not None


def test_writing_through_the_api(queue_de, annotator_for):
    client = api(annotator_for("ulla"))
    url = reverse("api:review-write", args=[queue_de.pk])
    written = client.post(url, {"content": {"prompt": "Was ist ein Apfel?", "response": "Ein Apfel ist ein Obst."}}, format="json")
    assert written.status_code == 201 and written.json()["status"] == "pending"
    assert client.post(url, {"content": {"prompt": "Nur eine Frage"}}, format="json").status_code == 400
    assert api(annotator_for("pierre", "fr")).post(url, {"content": {}}, format="json").status_code == 404


def test_a_written_record_past_the_size_limit_is_a_400_naming_the_limit(queue_de, annotator_for, settings):
    url = reverse("api:review-write", args=[queue_de.pk])
    limit = settings.INGEST["MAX_RECORD_BYTES"]
    nine_mb = {"prompt": "Was steht hier?", "response": "Ein langer Satz. " * (9 * 1024**2 // 17)}
    answer = api(annotator_for("ulla")).post(url, {"content": nine_mb}, format="json")
    assert answer.status_code == 400
    assert f"the limit for one record is {limit:,} bytes" in answer.json()["content"][0]
    assert not Record.objects.filter(kind="instruction", meta__written=True).exists()
