"""Near-duplicates from the signature store and the band index: first seen by (submission, line) is the original."""

import shutil
from io import StringIO

import numpy as np
from django.conf import settings
from django.core.management import call_command

from annotation.models import Record
from annotation.services import ingest
from annotation.services.signatures import band_index, signature_parts, signatures_keys

from .ingest_helpers import ingest_now, jsonl, submit
from .texts import documents

BASE = documents(1, seed=5)[0]
NEAR = BASE.replace("Dies ist Eintrag", "Das ist Eintrag")


def _pairs(*submissions) -> set[tuple[tuple[int, int], tuple[int, int]]]:
    marked = Record.objects.filter(submission__in=submissions, near_duplicate_of__isnull=False)
    return {
        ((r.submission_id, r.line), (r.near_duplicate_of.submission_id, r.near_duplicate_of.line))
        for r in marked.select_related("near_duplicate_of")
    }


def test_a_near_copy_in_a_later_submission_points_at_the_earlier_record(submit_de):
    first = submit_de(jsonl([{"text": BASE}]))
    second = submit_de(jsonl([{"text": documents(1, seed=9)[0]}, {"text": NEAR}]))

    assert (first.near_duplicates, second.near_duplicates) == (0, 1)
    assert _pairs(first, second) == {((second.pk, 2), (first.pk, 1))}


def test_within_a_submission_the_earliest_line_is_the_original_whatever_the_record_ids(submit_de):
    # Inserts go in content-hash order, so ids need not follow the lines.
    rows = [{"text": NEAR}] + [{"text": t} for t in documents(4, seed=11)] + [{"text": BASE}]
    submission = submit_de(jsonl(rows))

    assert _pairs(submission) == {((submission.pk, 6), (submission.pk, 1))}


def test_a_lower_submission_finishing_later_becomes_the_original(member_a, partner_a, german):
    lower = submit(user=member_a, partner=partner_a, language=german, content=jsonl([{"text": BASE}]))
    higher = ingest_now(submit(user=member_a, partner=partner_a, language=german, content=jsonl([{"text": NEAR}])))
    assert higher.near_duplicates == 0

    lower = ingest_now(lower)

    assert lower.near_duplicates == 0
    assert _pairs(lower, higher) == {((higher.pk, 1), (lower.pk, 1))}


def test_finishing_again_marks_the_same_and_adds_no_keys(submit_de):
    submission = submit_de(jsonl([{"text": BASE}, {"text": NEAR}]))
    size = band_index().size()
    Record.objects.filter(submission=submission).update(near_duplicate_of=None)
    type(submission).objects.filter(pk=submission.pk).update(status="ingesting", finished_at=None)

    ingest.ingest_finish(submission_id=submission.pk)

    assert band_index().size() == size
    assert _pairs(submission) == {((submission.pk, 2), (submission.pk, 1))}


def test_the_index_rebuilt_from_the_signatures_gives_the_same_answers(submit_de):
    submissions = [submit_de(jsonl([{"text": t} for t in documents(3, seed=s)] + [{"text": NEAR}])) for s in (1, 2)]
    tags = [tag for s in submissions for tag in signature_parts(submission_id=s.pk)]
    keys, _owners = signatures_keys(tags)
    before = band_index().first_owners(keys)
    shutil.rmtree(settings.NEAR_DUPLICATE_INDEX_DIR)
    assert (band_index().first_owners(keys) == np.uint64(2**64 - 1)).all()

    out = StringIO()
    call_command("near_duplicates_reindex", stdout=out)

    assert f"{len(keys)} key(s)" in out.getvalue()
    assert (band_index().first_owners(keys) == before).all()
    assert band_index().tags() == set(tags)


PROMPT = documents(1, seed=21, sentences=12)[0] + " Was meinst du dazu?"  # long: it dominates every pair
RANKINGS = [("Das stimmt so.", "Keine Ahnung."), ("Ja, genau.", "Vielleicht."), ("Richtig.", "Weiß nicht.")]


def test_pairs_sharing_a_prompt_are_not_near_duplicates_of_each_other(submit_de):
    lines = [{"prompt": PROMPT, "chosen": chosen, "rejected": rejected} for chosen, rejected in RANKINGS]
    first = submit_de(jsonl(lines), kind="preference")
    again = submit_de(jsonl([{"prompt": PROMPT, "chosen": "Stimmt genau.", "rejected": "Nein."}]), kind="preference")

    assert (first.records_accepted, first.near_duplicates, again.near_duplicates) == (3, 0, 0)
    assert _pairs(first, again) == set()


def test_a_text_near_a_preference_pair_is_still_marked(submit_de):
    pair = submit_de(jsonl([{"prompt": PROMPT, "chosen": "Das stimmt so.", "rejected": "Keine Ahnung."}]),
                     kind="preference")
    texts = submit_de(jsonl([{"text": PROMPT + " Das stimmt so."}, {"text": PROMPT + " Ja, genau."}]))

    # The pair stays in the index (contamination looks it up) and is the first seen of the cluster.
    assert texts.near_duplicates == 2
    assert _pairs(pair, texts) == {((texts.pk, 1), (pair.pk, 1)), ((texts.pk, 2), (pair.pk, 1))}
