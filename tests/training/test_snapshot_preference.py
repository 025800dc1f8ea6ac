"""A snapshot holding preference records builds, with TRL's prompt/chosen/rejected columns, one row per pair."""

import numpy as np
import pyarrow as pa

from tests.annotation.texts import GERMAN
from training.models import Snapshot
from training.snapshots.preference import pairs

from .test_snapshot_build import build, rows

TURNS = [{"role": "user", "content": GERMAN[5]}]


def test_preference_records_build_next_to_instruction_pairs(ingested, partner_a, german):
    ingested([{"prompt": GERMAN[0], "response": GERMAN[1]}], partner=partner_a, language=german, kind="instruction")
    ingested(
        [
            {"prompt": GERMAN[2], "chosen": GERMAN[3], "rejected": GERMAN[4]},
            {"prompt": TURNS, "responses": GERMAN[6:9], "ranking": [1, 2, 0]},
        ],
        partner=partner_a, language=german, kind="preference",
    )

    snapshot = build(languages=["de"], kinds=["instruction", "preference"], splits={"train": 1.0})

    assert snapshot.status == Snapshot.Status.READY, snapshot.failure
    written = sorted(rows(snapshot), key=lambda r: (r["kind"], r["chosen"] or "", r["rejected"] or ""))
    picked = [{k: r[k] for k in ("kind", "prompt", "prompt_messages", "response", "chosen", "rejected")} for r in written]
    assert picked == [
        {"kind": "instruction", "prompt": GERMAN[0], "prompt_messages": None, "response": GERMAN[1], "chosen": None,
         "rejected": None},
        {"kind": "preference", "prompt": None, "prompt_messages": TURNS, "response": None, "chosen": GERMAN[7],
         "rejected": GERMAN[6]},
        {"kind": "preference", "prompt": None, "prompt_messages": TURNS, "response": None, "chosen": GERMAN[7],
         "rejected": GERMAN[8]},
        {"kind": "preference", "prompt": GERMAN[2], "prompt_messages": None, "response": None, "chosen": GERMAN[3],
         "rejected": GERMAN[4]},
    ]


def test_pairs_are_cut_the_same_from_lists_and_from_arrow_or_numpy_columns():
    columns = {
        "id": [1, 2, 3], "kind": ["instruction", "preference", "preference"], "tokens": [5, 9, 30],
        "content_hash": ["a", "b", "c"], "prompt": ["p", "q", TURNS], "chosen": [None, "gut", "sehr gut"],
        "rejected": [None, "schlecht", ["mittel", "schlecht"]],
    }
    arrow = {**columns, "id": pa.array(columns["id"]), "kind": pa.array(columns["kind"]),
             "tokens": pa.array(columns["tokens"]), "chosen": pa.array(columns["chosen"]),
             "content_hash": np.array(columns["content_hash"], dtype="S32")}

    for given in (columns, arrow):
        cut = pairs(given, tokenizer="regex")
        as_lists = {k: v.tolist() if hasattr(v, "tolist") else v.to_pylist() if hasattr(v, "to_pylist") else v
                    for k, v in cut.items()}
        assert as_lists["id"] == [1, 2, 3, 3] and as_lists["rejected"] == [None, "schlecht", "mittel", "schlecht"]
        assert as_lists["chosen"] == [None, "gut", "sehr gut", "sehr gut"]
        assert as_lists["tokens"][:2] == [5, 9] and all(0 < t < 30 for t in as_lists["tokens"][2:])
