"""Handing out items: certified annotators only, overlap respected, leases that expire."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from annotation.models import Assignment
from annotation.services.review import certification_grant, certification_withdraw, queue_create, review_item_claim, review_submit
from tests.annotation.conftest import make_records
from tests.annotation.ingest_helpers import jsonl, submit
from tests.conftest import language, make_user

pytestmark = pytest.mark.django_db


def test_next_item_is_a_record_of_the_queue_language_and_kind(queue_de, submission_de, annotator_for, partner_a, member_a, french):
    mine = make_records(submission_de, 1)[0]
    other = submit(user=member_a, partner=partner_a, language=french, kind="instruction", content=jsonl([{"prompt": "a", "response": "b"}]))
    make_records(other, 3)
    assignment = review_item_claim(queue=queue_de, annotator=annotator_for("ulla"))
    assert assignment.record == mine
    assert assignment.status == Assignment.Status.LEASED
    assert assignment.leased_until > timezone.now() + timedelta(minutes=29)


def test_asking_again_gives_back_the_lease_held(queue_de, submission_de, annotator_for):
    make_records(submission_de, 3)
    ulla = annotator_for("ulla")
    first = review_item_claim(queue=queue_de, annotator=ulla)
    assert review_item_claim(queue=queue_de, annotator=ulla) == first


def test_a_record_goes_to_no_more_annotators_than_the_overlap(queue_de, submission_de, annotator_for):
    record = make_records(submission_de, 1)[0]
    given = [review_item_claim(queue=queue_de, annotator=annotator_for(name)) for name in ("ulla", "udo", "uwe")]
    assert [a.record if a else None for a in given] == [record, record, None]


def test_an_annotator_never_gets_the_same_record_twice(queue_de, submission_de, annotator_for):
    make_records(submission_de, 2)
    ulla = annotator_for("ulla")
    seen = []
    while (assignment := review_item_claim(queue=queue_de, annotator=ulla)) is not None:
        seen.append(assignment.record_id)
        review_submit(assignment=assignment, action="skip")
    assert len(seen) == 2 == len(set(seen))


def test_an_expired_lease_frees_its_slot(queue_de, submission_de, annotator_for):
    record = make_records(submission_de, 1)[0]
    queue_de.overlap = queue_de.consensus = 1
    queue_de.save()
    first = review_item_claim(queue=queue_de, annotator=annotator_for("ulla"))
    udo = annotator_for("udo")
    assert review_item_claim(queue=queue_de, annotator=udo) is None
    later = timezone.now() + timedelta(minutes=31)
    again = review_item_claim(queue=queue_de, annotator=udo, now=later)
    assert again.record == record and first.record == record
    # The first annotator's late answer no longer has a slot to count in.
    with pytest.raises(ValidationError):
        review_submit(assignment=first, action="accept", now=later)


def test_a_late_answer_counts_when_nobody_took_the_slot(queue_de, submission_de, annotator_for):
    make_records(submission_de, 1)
    first = review_item_claim(queue=queue_de, annotator=annotator_for("ulla"))
    annotation = review_submit(assignment=first, action="accept", now=timezone.now() + timedelta(hours=2))
    assert annotation.assignment.status == Assignment.Status.SUBMITTED


def test_a_skip_gives_the_slot_to_someone_else(queue_de, submission_de, annotator_for):
    record = make_records(submission_de, 1)[0]
    for name in ("ulla", "udo"):
        review_submit(assignment=review_item_claim(queue=queue_de, annotator=annotator_for(name)), action="skip")
    assert review_item_claim(queue=queue_de, annotator=annotator_for("uwe")).record == record


def test_only_certified_annotators_get_items(queue_de, submission_de, annotator_for, member_a):
    make_records(submission_de, 1)
    with pytest.raises(PermissionDenied):
        review_item_claim(queue=queue_de, annotator=member_a)
    with pytest.raises(PermissionDenied):
        review_item_claim(queue=queue_de, annotator=annotator_for("pierre", "fr"))


def test_a_withdrawn_certification_stops_new_items(queue_de, submission_de, annotator_for, lead_de):
    make_records(submission_de, 2)
    ulla = annotator_for("ulla")
    certification_withdraw(withdrawer=lead_de, certification=ulla.certifications.get())
    with pytest.raises(PermissionDenied):
        review_item_claim(queue=queue_de, annotator=ulla)


def test_variants_need_their_own_certification(staff, partner_a, member_a):
    portuguese = language("pt")
    brazilian = portuguese.__class__.objects.create(code="pt-BR", name_en="Portuguese (Brazil)", name_native="Português (Brasil)")
    queue_br = queue_create(creator=staff, language=brazilian, kind="instruction", name="pt-BR")
    queue_pt = queue_create(creator=staff, language=portuguese, kind="instruction", name="pt")
    for lang in (portuguese, brazilian):
        make_records(submit(user=member_a, partner=partner_a, language=lang, kind="instruction", content=jsonl([{"prompt": "a", "response": "b"}])), 1)
    paula = make_user("paula")
    certification_grant(granter=staff, user=paula, language_code="pt")
    with pytest.raises(PermissionDenied):
        review_item_claim(queue=queue_br, annotator=paula)
    bruna = make_user("bruna")
    certification_grant(granter=staff, user=bruna, language_code="pt-BR")
    assert review_item_claim(queue=queue_br, annotator=bruna).record.language == brazilian
    assert review_item_claim(queue=queue_pt, annotator=bruna).record.language == portuguese


def test_narrowing_to_submissions_and_sampling(lead_de, german, partner_a, member_a, annotator_for):
    docs = submit(user=member_a, partner=partner_a, language=german, content=jsonl([{"text": "x"}]))
    other = submit(user=member_a, partner=partner_a, language=german, content=jsonl([{"text": "y"}]))
    make_records(docs, 200)
    make_records(other, 5)
    queue = queue_create(creator=lead_de, language=german, kind="pretraining", name="Stichprobe", sample_rate=0.1, submissions=[docs])
    assert queue.overlap == 1
    from annotation.review_selectors import queue_records

    sampled = queue_records(queue)
    assert 5 <= sampled.count() <= 40
    assert set(sampled.values_list("submission", flat=True)) == {docs.pk}
    assert review_item_claim(queue=queue, annotator=annotator_for("ulla")).record in sampled


def test_queues_are_made_by_the_language_lead_or_staff(lead_de, german, french, annotator_for, staff):
    assert queue_create(creator=lead_de, language=german, kind="evaluation", name="Bewertung").overlap == 2
    with pytest.raises(PermissionDenied):
        queue_create(creator=lead_de, language=french, kind="evaluation", name="Évaluation")
    with pytest.raises(PermissionDenied):
        queue_create(creator=annotator_for("ulla"), language=german, kind="evaluation", name="Bewertung")
    with pytest.raises(ValidationError):
        queue_create(creator=staff, language=german, kind="instruction", name="x", overlap=2, consensus=3)
    with pytest.raises(ValidationError):
        queue_create(creator=staff, language=german, kind="instruction", name="x", sample_rate=0.5)


def test_certifications_are_granted_by_the_language_lead_only(lead_de, german):
    ulla = make_user("ulla")
    certification = certification_grant(granter=lead_de, user=ulla, language_code="de")
    assert certification_grant(granter=lead_de, user=ulla, language_code="de") == certification
    with pytest.raises(PermissionDenied):
        certification_grant(granter=lead_de, user=ulla, language_code="fr")
    with pytest.raises(PermissionDenied):
        certification_grant(granter=ulla, user=make_user("udo"), language_code="de")
    with pytest.raises(PermissionDenied):
        certification_withdraw(withdrawer=ulla, certification=certification)


def test_a_lead_of_a_language_leads_its_variants_and_sees_their_queues(staff):
    from annotation.review_selectors import is_language_lead, queues_visible_to
    from tests.annotation.conftest import make_lead

    portuguese = language("pt")
    brazilian = portuguese.__class__.objects.create(code="pt-BR", name_en="Portuguese (Brazil)", name_native="Português (Brasil)")
    queue_br = queue_create(creator=staff, language=brazilian, kind="instruction", name="pt-BR")
    lead_pt, lead_br = make_lead("pedro", portuguese), make_lead("bia", brazilian)
    assert is_language_lead(lead_pt, "pt-BR") and not is_language_lead(lead_br, "pt")
    assert list(queues_visible_to(lead_pt)) == [queue_br]
    assert not queues_visible_to(make_lead("pol", language("pl"))).exists()
    assert certification_grant(granter=lead_pt, user=make_user("bruna"), language_code="pt-BR")
