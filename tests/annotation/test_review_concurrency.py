"""32 annotators asking for items at the same instant, against PostgreSQL."""

import threading
from collections import Counter

from django.db import connection

from annotation.models import Annotation, Assignment, Record
from annotation.services.review import certification_grant, queue_create, review_item_claim, review_submit
from tests.annotation.conftest import bare_submission, make_lead, make_records
from tests.conftest import language, make_user

ANNOTATORS = 32
RECORDS = 24
OVERLAP = 2


def _work(queue, annotator, barrier, claims, errors):
    try:
        barrier.wait()
        while (assignment := review_item_claim(queue=queue, annotator=annotator)) is not None:
            claims.append((assignment.pk, assignment.record_id, annotator.pk))
            review_submit(assignment=assignment, action="accept")
    except Exception as error:  # reported by the test, not lost in the thread
        errors.append(error)
    finally:
        connection.close()


def test_many_annotators_at_once(transactional_db, partner_a, member_a, staff):
    german = language("de")
    lead = make_lead("lena", german)
    submission = bare_submission(partner=partner_a, uploader=member_a, language=german)
    make_records(submission, RECORDS)
    queue = queue_create(creator=lead, language=german, kind="instruction", name="Last", overlap=OVERLAP)
    annotators = [make_user(f"a{i:02d}") for i in range(ANNOTATORS)]
    for annotator in annotators:
        certification_grant(granter=staff, user=annotator, language_code="de")

    barrier, claims, errors = threading.Barrier(ANNOTATORS), [], []
    threads = [threading.Thread(target=_work, args=(queue, a, barrier, claims, errors)) for a in annotators]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors
    per_record = Counter(record for _, record, _ in claims)
    assert max(per_record.values()) <= OVERLAP  # no record over its overlap
    assert len({(record, annotator) for _, record, annotator in claims}) == len(claims)  # nobody saw one twice
    # No lease lost: every lease handed out is in the database, answered.
    assert set(Assignment.objects.values_list("pk", flat=True)) == {pk for pk, _, _ in claims}
    assert Annotation.objects.count() == len(claims) == RECORDS * OVERLAP
    assert set(Record.objects.filter(submission=submission).values_list("status", flat=True)) == {"accepted"}
    assert len({annotator for _, _, annotator in claims}) > 1
