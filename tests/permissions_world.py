"""Two partners for the object-permission sweep: Beta's objects, and Alpha's people who must not reach them.

Beta (partner B) works in French: a member who is its admin, a French lead
and a certified French annotator; they own one object of every kind a URL
names. Alpha (partner A) works in German: a plain member, a partner admin, a
member certified for German (a reviewer of another language) and the German
lead. Staff and an unpublished run stand for what only staff see.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from django.conf import settings

from annotation.models import Assignment, Certification, ReviewDecision, ReviewQueue, Submission, Upload
from annotation.services.review import certification_grant, queue_create, review_item_claim
from annotation.services.uploads import upload_create
from occiportal.invitations import invitation_create
from occiportal.models import Invitation, LanguageRole, Partner, PartnerMembership
from training.models import BaseModel, EvaluationRun, EvaluationSuite, Snapshot, SnapshotSubmission, TrainingRun
from tests.annotation.conftest import make_lead, make_records
from tests.conftest import make_user
from tests.training.run_helpers import make_base_model, make_run
from tests.web.conftest import make_submission

BASE_URL = "http://testserver/"


@dataclass
class World:
    partner_a: Partner
    partner_b: Partner
    users: dict  # actor name → user; "anonymous" is absent
    submission: Submission
    upload: Upload
    queue: ReviewQueue
    assignment: Assignment
    decision: ReviewDecision
    certification: Certification
    lead_role: LanguageRole
    invitation_partner: Invitation
    invitation_language: Invitation
    invitation_mixed: Invitation  # names German and French: the German lead must not resend it
    snapshot: Snapshot
    other_snapshot: Snapshot
    run: TrainingRun
    published_run: TrainingRun
    evaluation: EvaluationRun
    suite: EvaluationSuite
    base_model: BaseModel


def _admin(username, partner):
    user = make_user(username, partner=partner)
    PartnerMembership.objects.filter(user=user).update(role=PartnerMembership.Role.ADMIN)
    return user


def _snapshot(name, submission) -> Snapshot:
    """A ready snapshot of ``submission``'s records, as a build writes it: that partner's data only."""
    folder = Path(settings.DATA_DIR) / "snapshots" / name
    code = submission.language.code
    (folder / code).mkdir(parents=True)
    rows = [{"record_id": r.pk, "submission_id": submission.pk, "language": code, "kind": r.kind,
             "text": str(r.content), "tokens": 5} for r in submission.records.all()]  # fmt: skip
    shard = folder / code / "train-00000.parquet"
    pq.write_table(pa.Table.from_pylist(rows), shard)
    entry = {"path": f"{code}/train-00000.parquet", "rows": len(rows), "bytes": shard.stat().st_size,
             "sha256": hashlib.sha256(shard.read_bytes()).hexdigest()}  # fmt: skip
    (folder / "README.md").write_text(f"# {name}\n")
    manifest = json.dumps({"shards": [entry], "languages": [code], "card_sha256": None}).encode()
    (folder / "manifest.json").write_bytes(manifest)
    sha256 = hashlib.sha256(manifest).hexdigest()
    snapshot = Snapshot.objects.create(name=name, version=1, license="CC-BY-4.0", status=Snapshot.Status.READY,
                                       uri=str(folder), manifest_sha256=sha256)  # fmt: skip
    SnapshotSubmission.objects.create(snapshot=snapshot, submission=submission, partner=submission.partner,
                                      language=submission.language.code, license=submission.license)  # fmt: skip
    return snapshot


def build_world(*, partner_a, partner_b, member_a, staff, german, french) -> World:
    users = {
        "member_a": member_a,
        "admin_a": _admin("ada", partner_a),
        "reviewer_de": make_user("rita", partner=partner_a),
        "lead_de": make_lead("lena", german),
        "member_b": _admin("bert", partner_b),
        "lead_fr": make_lead("felix", french),
        "annotator_fr": make_user("fleur"),
        "staff": staff,
    }
    certification_grant(granter=staff, user=users["reviewer_de"], language_code="de")
    certification = certification_grant(granter=staff, user=users["annotator_fr"], language_code="fr")

    submission = make_submission(partner=partner_b, uploader=users["member_b"], language=french,
                                 records_accepted=3, tokens=30)  # fmt: skip
    Submission.objects.filter(pk=submission.pk).update(kind="instruction")
    submission.refresh_from_db()
    records = make_records(submission, 3)
    queue = queue_create(creator=users["lead_fr"], language=french, kind="instruction", name="Français",
                         partners=[partner_b])  # fmt: skip
    assignment = review_item_claim(queue=queue, annotator=users["annotator_fr"])
    decision = ReviewDecision.objects.create(queue=queue, record=records[-1], outcome=ReviewDecision.Outcome.DISPUTED,
                                             votes={"accept": 1, "reject": 1})  # fmt: skip

    own = make_submission(partner=partner_a, uploader=member_a, language=german)
    make_records(own, 2)
    snapshot = _snapshot("beta-only", submission)
    base_model = make_base_model()
    run = make_run(user=staff, snapshot=snapshot, base_model=base_model)
    published_run = make_run(user=staff, snapshot=snapshot, base_model=base_model)
    TrainingRun.objects.filter(pk=published_run.pk).update(published=True, status="succeeded")
    suite_dir = Path(settings.DATA_DIR) / "suites" / "fr-basics"
    suite_dir.mkdir(parents=True)
    (suite_dir / "fr.jsonl").write_text('{"question": "?", "choices": ["a", "b"], "answer": 0}\n')
    return World(
        partner_a=partner_a, partner_b=partner_b, users=users, submission=submission,
        upload=upload_create(owner=users["member_b"], filename="beta.jsonl", length=10),
        queue=queue, assignment=assignment, decision=decision, certification=certification,
        lead_role=LanguageRole.objects.get(user=users["lead_fr"], role=LanguageRole.Role.LEAD),
        invitation_partner=invitation_create(
            inviter=users["member_b"], email="neu@beta.example", role="member", partner=partner_b, mail_language="en",
            base_url=BASE_URL,
        ),
        invitation_language=invitation_create(
            inviter=users["lead_fr"], email="traduction@beta.example", role="annotator", languages=[french],
            mail_language="fr", base_url=BASE_URL,
        ),
        invitation_mixed=invitation_create(
            inviter=staff, email="both@beta.example", role="annotator", languages=[german, french], mail_language="en",
            base_url=BASE_URL,
        ),
        snapshot=snapshot, other_snapshot=_snapshot("alpha-only", own),
        run=run, published_run=published_run,
        evaluation=EvaluationRun.objects.create(training_run=run, model_path="/m", status="succeeded"),
        suite=EvaluationSuite.objects.create(name="fr-basics", path=str(suite_dir)),
        base_model=base_model,
    )  # fmt: skip


