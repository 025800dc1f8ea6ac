"""A snapshot holding preference records builds, with TRL's prompt/chosen/rejected columns."""

from tests.annotation.texts import GERMAN
from training.models import Snapshot

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
