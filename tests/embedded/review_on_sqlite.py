"""Run by test_embedded_defaults.py in a process on the embedded defaults (SQLite): claims, answers, a snapshot build."""

import hashlib
import json
import uuid

from django.contrib.auth import get_user_model

from annotation.models import Record, Submission
from annotation.services.review import certification_grant, queue_create, review_item_claim, review_submit
from occiportal.models import Language, Partner

User = get_user_model()
german = Language.objects.get(code="de")
staff = User.objects.create_user("staff", is_staff=True, is_superuser=True)
annotator, other = User.objects.create_user("annotator"), User.objects.create_user("other")
partner = Partner.objects.create(slug="p", name="P")
submission = Submission.objects.create(
    uuid=uuid.uuid4(), partner=partner, language=german, kind="instruction", license="CC0-1.0", source="test",
    consent=True, file="x.jsonl", original_name="x.jsonl", status="ready",
)
Record.objects.bulk_create([
    Record(submission=submission, line=i, language=german, kind="instruction",
           content={"prompt": f"Frage {i}?", "response": "Antwort."}, content_hash=hashlib.md5(str(i).encode()).hexdigest())
    for i in (1, 2)
])
queue = queue_create(creator=staff, language=german, kind="instruction", name="Q", overlap=1)
certification_grant(granter=staff, user=annotator, language_code="de-AT")  # a variant reaches its base language
first = review_item_claim(queue=queue, annotator=annotator)
again = review_item_claim(queue=queue, annotator=annotator)
answer = review_submit(assignment=first, action="accept")
second = review_item_claim(queue=queue, annotator=annotator)
review_submit(assignment=second, action="accept")
print(json.dumps({
    "first": first.record.line, "again": again.pk == first.pk, "decision": answer.decision.outcome,
    "second": second.record.line, "left": review_item_claim(queue=queue, annotator=annotator),
}))

# What review accepted goes into a snapshot, built on SQLite as well; preference records become TRL's pairs there too.
from training.services.snapshot_build import snapshot_build  # noqa: E402
from training.services.snapshots import snapshot_create  # noqa: E402

preferences = Submission.objects.create(
    uuid=uuid.uuid4(), partner=partner, language=german, kind="preference", license="CC0-1.0", source="test",
    consent=True, file="y.jsonl", original_name="y.jsonl", status="ready",
)
Record.objects.bulk_create([
    Record(submission=preferences, line=1, language=german, kind="preference", status="accepted",
           content={"prompt": "Wie spät?", "chosen": "Acht Uhr.", "rejected": "Egal."},
           content_hash=hashlib.md5(b"pair").hexdigest()),
    Record(submission=preferences, line=2, language=german, kind="preference", status="accepted",
           content={"prompt": [{"role": "user", "content": "Zwei plus zwei?"}], "chosen": "Vier.",
                    "rejected": ["Fünf.", "Drei."]},
           content_hash=hashlib.md5(b"ranking").hexdigest()),
])
snapshot = snapshot_create(name="embedded", license="CC0-1.0",
                           parameters={"languages": ["de"], "kinds": ["instruction", "preference"]}, enqueue=False)
snapshot = snapshot_build(snapshot_id=snapshot.pk)
print(json.dumps({"snapshot": snapshot.status, "failure": snapshot.failure, "counts": snapshot.counts}))
