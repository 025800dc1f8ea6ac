"""Licences, contamination, evaluation items, mixture and upsampling."""

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from annotation.models import Record
from annotation.text_selectors import record_text_read
from tests.annotation.texts import documents
from training.models import Snapshot
from training.services.snapshot_build import SnapshotRefused, snapshot_build
from training.services.snapshots import snapshot_create
from training.snapshots.estimate import snapshot_estimate
from training.snapshots.params import normalise


def build(name="rules", license="CC-BY-4.0", override_reason="", created_by=None, **params):
    params.setdefault("languages", ["de"])
    snapshot = snapshot_create(name=name, license=license, parameters=params, enqueue=False,
                               override_reason=override_reason, created_by=created_by)
    return snapshot_build(snapshot_id=snapshot.pk)


def rows(snapshot, split="*"):
    return [r for f in sorted(Path(snapshot.uri).glob(f"*/{split}-*.parquet")) for r in pq.read_table(f).to_pylist()]


# -- licences ------------------------------------------------------------------


def test_non_commercial_material_refuses_a_commercial_snapshot(ingested, partner_a, german, staff, member_a):
    ok = ingested([{"text": t} for t in documents(5, seed=10)], partner=partner_a, language=german)
    nc = ingested([{"text": t} for t in documents(5, seed=11)], partner=partner_a, language=german, license="CC-BY-NC-4.0")
    nd = ingested([{"text": t} for t in documents(5, seed=12)], partner=partner_a, language=german, license="CC-BY-ND-4.0")

    with pytest.raises(SnapshotRefused) as refused:
        build(license="CC-BY-4.0")
    assert [c["submission_id"] for c in refused.value.conflicts] == [nc.pk, nd.pk]
    assert "commercial" in refused.value.conflicts[0]["reason"] and "derivatives" in refused.value.conflicts[1]["reason"]
    assert not Snapshot.objects.exists()

    with pytest.raises(Exception, match="only staff"):
        build(license="CC-BY-4.0", override_reason="we asked", created_by=member_a)

    snapshot = build(license="CC-BY-4.0", override_reason="Written permission from Alpha, 2026-11-20.", created_by=staff)
    assert snapshot.status == Snapshot.Status.READY
    assert snapshot.license_override_reason.startswith("Written permission")
    assert {c["submission_id"] for c in snapshot.license_conflicts} == {nc.pk, nd.pk}
    assert {r["submission_id"] for r in rows(snapshot)} == {ok.pk, nc.pk, nd.pk}

    # A non-commercial snapshot takes NC material without override (ND in a non-commercial set is allowed too).
    assert build(name="nc", license="CC-BY-NC-4.0").status == Snapshot.Status.READY


def test_share_alike_needs_the_same_license(ingested, partner_a, german):
    ingested([{"text": t} for t in documents(4, seed=13)], partner=partner_a, language=german, license="CC-BY-SA-4.0")
    with pytest.raises(SnapshotRefused):
        build(license="CC-BY-4.0")
    assert build(license="CC-BY-SA-4.0").status == Snapshot.Status.READY


def test_a_build_rechecks_licenses_when_records_changed_since_definition(ingested, partner_a, german):
    ingested([{"text": t} for t in documents(4, seed=14)], partner=partner_a, language=german)
    snapshot = snapshot_create(name="late", license="CC-BY-4.0", parameters={"languages": ["de"]}, enqueue=False)
    ingested([{"text": t} for t in documents(4, seed=15)], partner=partner_a, language=german, license="CC-BY-NC-4.0")
    built = snapshot_build(snapshot_id=snapshot.pk)
    assert built.status == Snapshot.Status.FAILED and "licence conflicts" in built.failure
    assert len(built.license_conflicts) == 1


# -- evaluation items and contamination -------------------------------------------


def test_evaluation_items_stay_out_of_training_and_contamination_is_reported(ingested, partner_a, german):
    docs = documents(40, seed=20)
    items = [{"question": docs[0], "choices": ["ja", "nein"], "answer": 0},
             {"question": "Welche Farbe hat der Himmel über dem kleinen Dorf am Fluss?", "choices": ["blau", "grün"], "answer": 0}]
    near = docs[1] + " Noch ein Satz."
    train = ingested([{"text": t} for t in docs[:1] + [near] + docs[2:]], partner=partner_a, language=german)
    ingested(items, partner=partner_a, language=german, kind="evaluation")

    snapshot = build(kinds=["pretraining", "evaluation"], splits={"train": 1.0})
    train_rows = rows(snapshot, "train")
    assert all(r["kind"] == "pretraining" for r in train_rows)
    assert {r["kind"] for r in rows(snapshot, "test")} == {"evaluation"}
    assert snapshot.contamination["items"] == 2
    assert snapshot.contamination["exact"] == 1
    exact_id = next(r.pk for r in Record.objects.filter(submission=train) if record_text_read(r)["text"] == docs[0])
    assert exact_id not in {r["record_id"] for r in train_rows}
    assert len(train_rows) == 40 - 1 - snapshot.contamination["near"]

    kept = build(name="kept", kinds=["pretraining"], splits={"train": 1.0}, decontaminate=False)
    assert kept.contamination["exact"] == 1 and len(rows(kept)) == 40


def test_near_duplicate_of_an_evaluation_question_is_caught(ingested, partner_a, german):
    question = " ".join(documents(1, seed=30, sentences=10))
    ingested([{"text": question + " Ende."}], partner=partner_a, language=german)
    ingested([{"question": question, "choices": ["a", "b"], "answer": 1}], partner=partner_a, language=german, kind="evaluation")
    snapshot = build(splits={"train": 1.0})
    assert snapshot.contamination["near"] == 1 and rows(snapshot) == []


# -- mixture and upsampling --------------------------------------------------------


def test_token_budget_mixture_and_estimate(ingested, partner_a, partner_b, member_b, german, french):
    ingested([{"text": t} for t in documents(200, "de", seed=40)], partner=partner_a, language=german)
    ingested([{"text": t} for t in documents(40, "fr", seed=41, sentences=3)], partner=partner_b, language=french, user=member_b)
    params = normalise({"languages": ["de", "fr"], "drop_language_mismatch": False, "reduce_near_duplicates": False,
                        "mixture": {"tokens": {"de": 0}}, "splits": {"train": 1.0}})
    de_tokens = sum(Record.objects.filter(language__code="de").values_list("tokens", flat=True))
    estimate = snapshot_estimate(params)
    assert estimate["de"]["tokens"] == de_tokens and estimate["de"]["expected_tokens"] == 0
    assert estimate["fr"]["weight"] == 1.0

    half = {**params, "mixture": {"tokens": {"de": de_tokens // 2}}}
    snapshot = build(**half)
    got = snapshot.counts["de"]["train"]["tokens"]
    assert abs(got - de_tokens / 2) < 0.15 * de_tokens, (got, de_tokens)
    assert snapshot.counts["fr"]["train"]["records"] == 40


def test_replay_share_and_repeats(ingested, partner_a, partner_b, member_b, german, french):
    ingested([{"text": t} for t in documents(100, "de", seed=50)], partner=partner_a, language=german)
    ingested([{"text": t} for t in documents(40, "fr", seed=51, sentences=3)], partner=partner_b, language=french, user=member_b)
    params = normalise({"languages": ["de", "fr"], "drop_language_mismatch": False, "reduce_near_duplicates": False,
                        "mixture": {"replay": {"language": "fr", "share": 0.5}}, "splits": {"train": 1.0},
                        "max_epochs": 5})
    estimate = snapshot_estimate(params)
    # fr must match de's tokens: about four times what fr has, so fr rows repeat.
    assert estimate["fr"]["weight"] > 1
    assert abs(estimate["fr"]["expected_tokens"] - estimate["de"]["tokens"]) <= 1
    snapshot = build(**params)
    fr_rows = [r["record_id"] for r in rows(snapshot) if r["language"] == "fr"]
    assert len(fr_rows) > len(set(fr_rows)) == 40


def test_fineweb2_upsampling_repeats_by_cluster_size(ingested, partner_a, german):
    base = documents(1, seed=60, sentences=12)[0]
    variants = [base + f" Zusatz {i}." for i in range(3)]  # one cluster of 4 with the base
    ingested([{"text": base}] + [{"text": v} for v in variants] + [{"text": t} for t in documents(5, seed=61)],
             partner=partner_a, language=german)
    root = next(r for r in Record.objects.all() if record_text_read(r).get("text") == base)
    assert Record.objects.filter(near_duplicate_of=root).count() == 3
    snapshot = build(upsampling="fineweb2", splits={"train": 1.0})
    ids = [r["record_id"] for r in rows(snapshot)]
    assert ids.count(root.pk) == 2  # cluster of 4: two copies
    assert len(ids) == 2 + 5


# -- review signals: flags and ratings ------------------------------------------


def _annotate(record, annotator, *, action="accept", ratings=None, flags=None):
    from datetime import timedelta

    from django.utils import timezone

    from annotation.models import Annotation, Assignment, ReviewQueue

    queue, _ = ReviewQueue.objects.get_or_create(
        name="q", language=record.language, kind=record.kind, defaults={"overlap": 2, "consensus": 1, "rating_scales": ["fluency"]}
    )
    assignment = Assignment.objects.create(queue=queue, record=record, annotator=annotator, status="submitted",
                                           leased_until=timezone.now() + timedelta(minutes=5))
    Annotation.objects.create(assignment=assignment, queue=queue, record=record, annotator=annotator, action=action,
                              reason="flagged" if action == "flag" else "", ratings=ratings or {}, flags=flags or [])


def test_flagged_records_and_low_ratings_stay_out(ingested, partner_a, german, member_a, staff):
    submission = ingested([{"text": t} for t in documents(6, seed=70)], partner=partner_a, language=german)
    first, second, third, *_ = Record.objects.filter(submission=submission).order_by("id")
    _annotate(first, member_a, action="flag", flags=["toxic"])
    _annotate(second, member_a, ratings={"fluency": 2})
    _annotate(second, staff, ratings={"fluency": 3})
    _annotate(third, member_a, ratings={"fluency": 5})

    ids = {r["record_id"] for r in rows(build())}
    assert first.pk not in ids and len(ids) == 5
    kept = {r["record_id"] for r in rows(build(name="flags-kept", drop_flagged=False))}
    assert first.pk in kept

    rated = {r["record_id"] for r in rows(build(name="rated", min_rating={"scale": "fluency", "value": 3}))}
    assert rated == {third.pk}  # mean 2.5 is below 3; unrated records drop out


# -- reviewers' edits ----------------------------------------------------------------


def _set_status(record, status):
    Record.objects.filter(pk=record.pk).update(status=status)


def test_edits_of_edits_lead_back_to_the_original():
    from training.snapshots.edits import choose

    links = {11: 1, 12: 11, 13: 1, 21: 2, 22: 21}  # edit → the record it corrects
    standing = {1: 100, 11: 900, 2: 200}  # 21 was withdrawn
    skip, credit = choose(links, passing={11, 12, 13, 22}, standing=standing)
    assert credit == {13: 100}  # the latest of 1's chain; 22 went with 21
    assert skip == {1, 11, 12, 22}


def test_an_accepted_edit_replaces_its_original_and_is_credited_to_its_submission(ingested, partner_a, german, edit):
    from training.models import SnapshotSubmission

    docs = documents(6, seed=80)
    submission = ingested([{"text": t} for t in docs[:5]], partner=partner_a, language=german)
    original, *others = Record.objects.filter(submission=submission).order_by("id")
    corrected = edit(original, {"text": docs[5]})
    assert corrected.submission_id != submission.pk and corrected.status == Record.Status.PENDING

    pending = rows(build(name="pending", splits={"train": 1.0}))
    assert {r["record_id"] for r in pending} == {original.pk, *(o.pk for o in others)}  # a pending edit changes nothing

    _set_status(corrected, Record.Status.ACCEPTED)
    snapshot = build(name="edited", splits={"train": 1.0})
    by_id = {r["record_id"]: r for r in rows(snapshot)}
    assert set(by_id) == {corrected.pk, *(o.pk for o in others)}  # never both
    assert by_id[corrected.pk]["text"] == docs[5] and by_id[corrected.pk]["submission_id"] == submission.pk
    lineage = SnapshotSubmission.objects.get(snapshot=snapshot)  # the original's partner, no community row
    assert lineage.submission_id == submission.pk and lineage.partner == partner_a and lineage.records == 5
    estimate = snapshot_estimate(normalise({"languages": ["de"]}))
    assert estimate["de"]["records"] == 5

    # Two accepted edits of one original: the latest is taken.
    later = edit(original, {"text": docs[5] + " Nachtrag."}, name="udo")
    _set_status(later, Record.Status.ACCEPTED)
    ids = {r["record_id"] for r in rows(build(name="twice", splits={"train": 1.0}))}
    assert later.pk in ids and not {original.pk, corrected.pk} & ids and len(ids) == 5


def test_an_edit_goes_to_the_split_its_original_would(ingested, partner_a, german, edit):
    from training.snapshots.split import split_of

    docs = documents(30, seed=81)
    submission = ingested([{"text": t} for t in docs[:10]], partner=partner_a, language=german)
    halves = {"train": 0.5, "test": 0.5}
    where = {r.pk: split_of(r.content_hash.hex, seed=3, fractions=halves) for r in Record.objects.filter(submission=submission)}
    spare, corrections = enumerate(docs[10:]), {}
    for split in ("test", "train"):
        original = Record.objects.get(pk=next(pk for pk, s in where.items() if s == split))
        # Edit until one's own text would send it to the other split; the others stay pending and count for nothing.
        while True:
            i, text = next(spare)
            correction = edit(original, {"text": text}, name=f"editor{i}")
            if split_of(Record.objects.get(pk=correction.pk).content_hash.hex, seed=3, fractions=halves) != split:
                break
        _set_status(correction, Record.Status.ACCEPTED)
        corrections[split] = correction

    snapshot = build(name="placed", splits=halves, seed=3)

    for split, correction in corrections.items():
        assert correction.pk in {r["record_id"] for r in rows(snapshot, split)}


def test_a_rejected_edit_leaves_the_original(ingested, partner_a, german, edit):
    docs = documents(4, seed=81)
    submission = ingested([{"text": t} for t in docs[:3]], partner=partner_a, language=german)
    original = Record.objects.filter(submission=submission).order_by("id").first()
    corrected = edit(original, {"text": docs[3]})
    _set_status(corrected, Record.Status.REJECTED)
    ids = {r["record_id"] for r in rows(build(splits={"train": 1.0}))}
    assert original.pk in ids and corrected.pk not in ids and len(ids) == 3


def test_an_edit_carries_its_originals_license(ingested, partner_a, german, edit):
    docs = documents(3, seed=82)
    nc = ingested([{"text": t} for t in docs[:2]], partner=partner_a, language=german, license="CC-BY-NC-4.0")
    original = Record.objects.filter(submission=nc).order_by("id").first()
    corrected = edit(original, {"text": docs[2]})
    # The usual outcome: the edit voted the original down, and was accepted itself.
    Record.objects.filter(submission=nc).update(status=Record.Status.REJECTED)
    _set_status(corrected, Record.Status.ACCEPTED)
    with pytest.raises(SnapshotRefused) as refused:
        build(license="CC-BY-4.0")
    assert [c["submission_id"] for c in refused.value.conflicts] == [nc.pk]
    assert refused.value.conflicts[0]["records"] == 1
    snapshot = build(license="CC-BY-NC-4.0", splits={"train": 1.0})
    assert [(r["record_id"], r["submission_id"]) for r in rows(snapshot)] == [(corrected.pk, nc.pk)]


def test_withdrawing_the_original_submission_withdraws_its_edits(ingested, partner_a, german, member_a, edit):
    from training.services.withdrawals import withdrawal_create

    docs = documents(5, seed=83)
    kept = ingested([{"text": t} for t in docs[:2]], partner=partner_a, language=german)
    taken_back = ingested([{"text": t} for t in docs[2:4]], partner=partner_a, language=german)
    original = Record.objects.filter(submission=taken_back).order_by("id").first()
    corrected = edit(original, {"text": docs[4]})
    _set_status(corrected, Record.Status.ACCEPTED)
    assert corrected.pk in {r["record_id"] for r in rows(build(name="before", splits={"train": 1.0}))}

    withdrawal_create(user=member_a, submission=taken_back, reason="Rights ended.")
    corrected.refresh_from_db()
    assert corrected.status == Record.Status.ACCEPTED  # the edit's own record is not the partner's to withdraw
    snapshot = build(name="after", splits={"train": 1.0})
    assert {r["record_id"] for r in rows(snapshot)} == set(Record.objects.filter(submission=kept).values_list("pk", flat=True))
    assert set(snapshot.lineage.values_list("submission_id", flat=True)) == {kept.pk}


def test_deleting_the_review_queue_keeps_the_edit_in_its_originals_place(ingested, partner_a, german, edit):
    from django.db.models import ProtectedError

    docs = documents(4, seed=84)
    submission = ingested([{"text": t} for t in docs[:3]], partner=partner_a, language=german)
    original = Record.objects.filter(submission=submission).order_by("id").first()
    corrected = edit(original, {"text": docs[3]})
    assert corrected.edit_of == original
    _set_status(corrected, Record.Status.ACCEPTED)

    corrected.edit_source.queue.delete()  # its answers go with it, the link stays on the record
    snapshot = build(splits={"train": 1.0})
    by_id = {r["record_id"]: r["submission_id"] for r in rows(snapshot)}
    assert original.pk not in by_id and by_id[corrected.pk] == submission.pk and len(by_id) == 3
    assert set(snapshot.lineage.values_list("submission_id", flat=True)) == {submission.pk}

    with pytest.raises(ProtectedError):  # deleting the original would set the edit loose; withdraw instead
        original.delete()


def test_the_migration_fills_edit_of_from_the_review_answers(ingested, partner_a, german, edit):
    import importlib

    from django.apps import apps

    fill = importlib.import_module("annotation.migrations.0004_record_edit_of").edit_of_fill
    docs = documents(4, seed=85)
    # A partner's own meta["edit_of"] is not a link: only a review answer makes one.
    uploaded = [{"text": docs[0], "meta": {"edit_of": 1}}, {"text": docs[1]}]
    submission = ingested(uploaded, partner=partner_a, language=german)
    original, other = Record.objects.filter(submission=submission).order_by("id")
    corrected = edit(original, {"text": docs[2]})
    again = edit(corrected, {"text": docs[3]}, name="udo")
    Record.objects.update(edit_of=None)  # as before the column existed

    fill(apps, None)
    links = dict(Record.objects.filter(edit_of__isnull=False).values_list("id", "edit_of_id"))
    assert links == {corrected.pk: original.pk, again.pk: corrected.pk}
    fill(apps, None)  # running it again changes nothing
    assert dict(Record.objects.filter(edit_of__isnull=False).values_list("id", "edit_of_id")) == links
