"""Preference data end to end: uploaded, reviewed, built into TRL's pairs; licences, withdrawal, contamination."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from annotation.models import Record
from annotation.services.review import certification_grant, queue_create, review_item_claim, review_submit
from tests.annotation.texts import GERMAN, documents
from tests.conftest import make_user
from training.models import Snapshot
from training.services.snapshot_build import SnapshotRefused
from training.services.lineage import snapshot_withdrawn
from training.services.withdrawals import snapshots_containing, withdrawal_create, withdrawal_get_or_create_lines

from .test_snapshot_build import build

pytestmark = pytest.mark.django_db

TURNS = [{"role": "system", "content": "Antworte kurz."}, {"role": "user", "content": GERMAN[0] + " Was heißt das?"}]
WRITTEN = GERMAN[12] + " " + GERMAN[13]
LINES = [
    {"prompt": GERMAN[1] + " Stimmt das?", "chosen": GERMAN[2], "rejected": GERMAN[3]},  # reviewers agree
    {"prompt": TURNS, "responses": [GERMAN[4], GERMAN[5], GERMAN[6]], "ranking": [1, 2, 0]},  # reviewers reorder
    {"prompt": GERMAN[7] + " Und dann?", "chosen": GERMAN[8], "rejected": GERMAN[9]},  # reviewers: a tie
    {"prompt": GERMAN[10] + " Warum?", "chosen": GERMAN[11], "rejected": GERMAN[14]},  # not reviewed
]


@pytest.fixture
def review(staff, german):
    """``review({line or record: judgement}, names)``: each named annotator judges those records, skips the rest."""
    queue = queue_create(creator=staff, language=german, kind="preference", name="Präferenzen", overlap=2, consensus=2)

    def run(judgements: dict, names: tuple):
        for name in names:
            annotator = make_user(name)
            certification_grant(granter=staff, user=annotator, language_code="de")
            while lease := review_item_claim(queue=queue, annotator=annotator):
                judgement = judgements.get(lease.record.pk)
                action = "judge" if judgement else "skip"
                review_submit(assignment=lease, action=action, judgement=judgement and judgement(name))

    return run


@pytest.fixture
def reviewed(ingested, partner_a, german, review):
    """The four lines uploaded under CC0 and reviewed; the pair written in review reviewed too."""
    submission = ingested(LINES, partner=partner_a, language=german, kind="preference", license="CC0-1.0", accepted=False)
    pair, ranking, tie, _unreviewed = submission.records.order_by("line")
    review({
        pair.pk: lambda name: {"type": "best", "best": 0} | ({"written": WRITTEN} if name == "ulla" else {}),
        ranking.pk: lambda name: {"type": "ranking", "ranking": [2, 0, 1]},  # stored: 0 chosen, 1 and 2 rejected
        tie.pk: lambda name: {"type": "tie"},
    }, ("ulla", "udo"))
    written = Record.objects.get(meta__source_record=pair.pk)
    review({written.pk: lambda name: {"type": "best", "best": 0}}, ("uwe", "uta"))
    return submission


def shard_rows(snapshot):
    root = Path(snapshot.uri)
    return [row for f in sorted(root.glob("*/*.parquet")) for row in pq.read_table(f).to_pylist()]


def pairs_of(snapshot) -> set[tuple]:
    return {(r["prompt"] or r["prompt_messages"][-1]["content"], r["chosen"], r["rejected"]) for r in shard_rows(snapshot)}


def card_header(snapshot) -> dict:
    return yaml.safe_load((Path(snapshot.uri) / "README.md").read_text().split("---")[1])


def test_reviewed_preferences_become_trls_pairs_with_both_licences_of_a_written_pair(reviewed, german):
    from datasets import load_dataset

    snapshot = build(languages=["de"], kinds=["preference"], splits={"train": 1.0})

    assert snapshot.status == Snapshot.Status.READY, snapshot.failure
    assert pairs_of(snapshot) == {
        (LINES[0]["prompt"], GERMAN[2], GERMAN[3]),
        (TURNS[-1]["content"], GERMAN[4], GERMAN[5]),  # the reviewers' best (stored 2) against each other response
        (TURNS[-1]["content"], GERMAN[4], GERMAN[6]),
        (LINES[0]["prompt"], WRITTEN, GERMAN[2]),  # written in review, against the best existing response
    }  # the tie and the unreviewed pair are left out
    conversation = next(r for r in shard_rows(snapshot) if r["prompt_messages"])
    assert conversation["prompt"] is None and conversation["prompt_messages"] == TURNS
    loaded = load_dataset("parquet", data_dir=snapshot.uri)["train"]
    assert {"prompt", "chosen", "rejected", "prompt_messages", "language"} <= set(loaded.column_names)
    assert loaded.features["rejected"].dtype == loaded.features["chosen"].dtype == "string" and len(loaded) == 4

    header = card_header(snapshot)
    assert header["license"] == ["cc-by-4.0", "cc0-1.0"]  # the annotator's licence beside the partner's
    lineage = {row.license: row.records for row in snapshot.lineage.all()}
    assert lineage == {"CC0-1.0": 4, "CC-BY-4.0": 1}  # the written pair counts under both submissions
    assert snapshot.counts["de"]["train"]["records"] == 4
    manifest = json.loads((Path(snapshot.uri) / "manifest.json").read_text())
    assert manifest["licenses"] == {"CC-BY-4.0": {"submissions": 1, "records": 1},
                                    "CC0-1.0": {"submissions": 1, "records": 4}}
    ranking = Record.objects.get(submission=reviewed, line=2)
    tokens = [r["tokens"] for r in shard_rows(snapshot) if r["record_id"] == ranking.pk]
    assert len(tokens) == 2 and all(0 < t < ranking.tokens for t in tokens)  # each pair's own texts counted
    assert snapshot.counts["de"]["train"]["tokens"] == sum(r["tokens"] for r in shard_rows(snapshot))


def test_withdrawing_a_line_removes_its_pairs_and_the_pair_written_for_it(reviewed, member_a):
    first = build(languages=["de"], kinds=["preference"], splits={"train": 1.0})
    ((withdrawal, _created),) = withdrawal_get_or_create_lines(user=member_a, submission=reviewed, lines=[1])

    held = snapshot_withdrawn(first)  # the line's pair and the pair written for it
    assert (held.records, held.rows) == (2, 2)
    assert snapshots_containing(withdrawal) == [first]

    again = build(languages=["de"], kinds=["preference"], splits={"train": 1.0})

    assert again.version == first.version + 1 and again.status == Snapshot.Status.READY, again.failure
    assert {p[0] for p in pairs_of(again)} == {TURNS[-1]["content"]}  # the ranking's two pairs stand
    assert {row.license for row in again.lineage.all()} == {"CC0-1.0"}


def test_the_contamination_check_reads_every_text_of_a_pair(reviewed, ingested, partner_a, german):
    ingested([{"question": GERMAN[6], "choices": ["ja", "nein"], "answer": 0}], partner=partner_a, language=german,
             kind="evaluation")

    snapshot = build(languages=["de"], kinds=["preference"], splits={"train": 1.0})

    assert snapshot.contamination["exact"] == 1  # a rejected response of the ranking equals the item's question
    assert {p[0] for p in pairs_of(snapshot)} == {LINES[0]["prompt"]}  # the ranking's pairs went with it


def test_a_written_pair_carries_the_licence_of_the_prompt_it_holds(ingested, partner_a, member_a, german, review):
    submission = ingested(LINES[:1], partner=partner_a, language=german, kind="preference", license="CC-BY-NC-4.0",
                          accepted=False)
    original = submission.records.get()
    review({original.pk: lambda name: {"type": "both_bad"} | ({"written": WRITTEN} if name == "ulla" else {})},
           ("ulla", "udo"))
    written = Record.objects.get(meta__source_record=original.pk)
    review({written.pk: lambda name: {"type": "best", "best": 0}}, ("uwe", "uta"))

    with pytest.raises(SnapshotRefused) as refused:  # declared CC-BY-4.0, which allows commercial use
        build(languages=["de"], kinds=["preference"], splits={"train": 1.0})
    assert [c["submission_id"] for c in refused.value.conflicts] == [submission.pk]

    snapshot = build(name="nc", license="CC-BY-NC-4.0", languages=["de"], kinds=["preference"], splits={"train": 1.0})
    assert pairs_of(snapshot) == {(LINES[0]["prompt"], WRITTEN, GERMAN[2])}  # the partner's own pair: both bad
    assert card_header(snapshot)["license"] == ["cc-by-4.0", "cc-by-nc-4.0"]

    # The partner takes the whole submission back: the snapshot holds its prompt in the written pair.
    withdrawal = withdrawal_create(user=member_a, submission=submission)
    assert snapshots_containing(withdrawal) == [snapshot]
    assert snapshot_withdrawn(snapshot).records == 1


def test_a_written_pair_stays_though_it_is_a_near_duplicate_of_its_source(
    ingested, partner_a, german, review, django_capture_on_commit_callbacks
):
    prompt = documents(1, "de", seed=5, sentences=12)[0] + " Was meinst du dazu?"  # long: it dominates both records
    submission = ingested([{"prompt": prompt, "chosen": "Das stimmt so.", "rejected": "Keine Ahnung."}],
                          partner=partner_a, language=german, kind="preference", accepted=False)
    original = submission.records.get()
    with django_capture_on_commit_callbacks(execute=True):  # writing marks near-duplicates once committed
        review({original.pk: lambda name: {"type": "best", "best": 0} | ({"written": "Das stimmt genau so."}
                                                                          if name == "ulla" else {})}, ("ulla", "udo"))
    written = Record.objects.get(meta__source_record=original.pk)
    review({written.pk: lambda name: {"type": "best", "best": 0}}, ("uwe", "uta"))
    written.refresh_from_db()
    assert written.near_duplicate_of_id is None  # ingest marks no pair (docs/near-duplicates.md)

    snapshot = build(languages=["de"], kinds=["preference"], splits={"train": 1.0})

    assert {p[1:] for p in pairs_of(snapshot)} == {("Das stimmt so.", "Keine Ahnung."), ("Das stimmt genau so.", "Das stimmt so.")}


def test_pairs_sharing_a_prompt_all_enter_and_go_to_one_split(ingested, partner_a, german):
    """Several answers to one long prompt are near-duplicates by their shingles, yet each pair is data,
    and a prompt in both train and test would let the held-out preference accuracy see training prompts."""
    prompts = [documents(1, "de", seed=20 + i, sentences=12)[0] + " Was meinst du dazu?" for i in range(8)]
    answers = [("Das stimmt so.", "Keine Ahnung."), ("Ja, genau.", "Vielleicht."), ("Richtig.", "Weiß nicht.")]
    lines = [{"prompt": prompt, "chosen": chosen, "rejected": rejected} for prompt in prompts for chosen, rejected in answers]
    submission = ingested(lines, partner=partner_a, language=german, kind="preference")
    # Ingest marks no pair; marked anyway, as before migration 0019, the pairs are still not reduced.
    first = submission.records.get(line=1)
    submission.records.exclude(pk=first.pk).update(near_duplicate_of=first)

    snapshot = build(languages=["de"], kinds=["preference"], splits={"train": 0.5, "validation": 0.0, "test": 0.5})

    rows = shard_rows(snapshot)
    assert len(rows) == len(lines)
    splits_of_prompt = {}
    for f in sorted(Path(snapshot.uri).glob("de/*.parquet")):
        for row in pq.read_table(f).to_pylist():
            splits_of_prompt.setdefault(row["prompt"], set()).add(f.name.split("-")[0])
    assert all(len(splits) == 1 for splits in splits_of_prompt.values()), splits_of_prompt
    assert {s for splits in splits_of_prompt.values() for s in splits} == {"train", "test"}  # both splits used
