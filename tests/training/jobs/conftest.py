"""A tiny Mistral, a tiny snapshot and a tiny suite, made on the spot.

Everything here is small enough for a 2-core CI machine: a 512-token
vocabulary, 2 layers of width 64, sequences of 32 tokens.
"""

import hashlib
import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import torch  # noqa: E402

from tests.training.jobs.object_store import object_store, s3_endpoint  # noqa: E402,F401 - fixtures
from training.jobs.contract import JobSpec, TrainConfig  # noqa: E402

torch.set_num_threads(2)

GERMAN = [
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "Die Katze sitzt auf der Matte und schläft in der Sonne.",
    "Im Sommer fahren wir an das Meer und baden jeden Tag.",
]
PORTUGUESE = [
    "O rato roeu a roupa do rei de Roma.",
    "A menina comeu uma maçã vermelha no jardim.",
]
CHATS = [
    [{"role": "user", "content": "Wie heißt die Hauptstadt?"}, {"role": "assistant", "content": "Berlin."}],
    [
        {"role": "system", "content": "Antworte kurz."},
        {"role": "user", "content": "Zwei plus zwei?"},
        {"role": "assistant", "content": "Vier."},
    ],
]
TINY = {"hidden_size": 64, "num_layers": 2, "num_heads": 4, "num_kv_heads": 2, "max_position_embeddings": 256}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    from training.jobs.tiny import create_tiny_model

    texts = (GERMAN + PORTUGUESE + [m["content"] for chat in CHATS for m in chat]) * 20
    return create_tiny_model(tmp_path_factory.mktemp("models") / "tiny", texts, vocab_size=512, **TINY)


def write_snapshot(root, rows_by_language):
    """A snapshot folder as the portal writes it, every shard in the manifest; returns (folder, manifest sha256).

    Rows are a list of dicts or a table (training/snapshots/writer.py's ``table_for``).
    """
    shards = []
    for language, rows in rows_by_language.items():
        (root / language).mkdir(parents=True, exist_ok=True)
        path = root / language / "train-00000.parquet"
        pq.write_table(rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(rows), path)
        shards.append({"path": f"{language}/train-00000.parquet", "rows": len(rows),
                       "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "bytes": path.stat().st_size})  # fmt: skip
    manifest = root / "manifest.json"
    manifest.write_text(json.dumps({"languages": sorted(rows_by_language), "shards": shards, "card_sha256": None}))
    return root, hashlib.sha256(manifest.read_bytes()).hexdigest()


@pytest.fixture
def cpt_snapshot(tmp_path):
    rows = {
        "de": [{"kind": "text", "language": "de", "text": t} for t in GERMAN * 15],
        "pt": [{"kind": "text", "language": "pt", "text": t} for t in PORTUGUESE * 15],
    }
    return write_snapshot(tmp_path / "snapshot", rows)


@pytest.fixture
def sft_snapshot(tmp_path):
    empty = {"messages": None, "prompt": None, "response": None}
    rows = {
        "de": [{**empty, "kind": "conversation", "language": "de", "messages": chat} for chat in CHATS * 8]
        + [{**empty, "kind": "instruction", "language": "de", "prompt": "Farbe des Himmels?", "response": "Blau."}] * 8
    }
    return write_snapshot(tmp_path / "snapshot", rows)


# Easy to tell apart: every chosen answer is polite, every rejected one rude.
PREFERENCES = [
    ("Wie heißt die Hauptstadt?", "Berlin, gern geschehen.", "Weiß nicht, frag jemand anders."),
    ("Zwei plus zwei?", "Vier, gern geschehen.", "Weiß nicht, frag jemand anders."),
    ("Farbe des Himmels?", "Blau, gern geschehen.", "Weiß nicht, frag jemand anders."),
]


@pytest.fixture
def dpo_snapshot(tmp_path):
    """Preference rows as snapshots write TRL's pairs: string prompts, a conversation prompt in prompt_messages
    (a ranking's two pairs), one rejected answer per row."""
    from training.snapshots.writer import table_for

    conversation = [{"role": "system", "content": "Antworte kurz."}, {"role": "user", "content": "Zwei plus zwei?"}]
    prompts = [prompt for prompt, _, _ in PREFERENCES] * 6 + [None] * 4
    prompt_messages = [None] * (len(PREFERENCES) * 6) + [conversation] * 4
    chosen = [answer for _, answer, _ in PREFERENCES] * 6 + ["Vier, gern geschehen."] * 4
    rejected = [answer for _, _, answer in PREFERENCES] * 6 + ["Weiß nicht, frag jemand anders.", "Fünf."] * 2
    rows = len(prompts)
    table = table_for({"kind": ["preference"] * rows, "language": ["de"] * rows, "prompt": prompts,
                       "prompt_messages": prompt_messages, "chosen": chosen, "rejected": rejected}, rows)  # fmt: skip
    return write_snapshot(tmp_path / "snapshot", {"de": table})


def make_spec(tiny_model, snapshot, output_dir, **train):
    folder, sha256 = snapshot
    config = {"learning_rate": 3e-3, "max_steps": 30, "batch_size": 4, "seq_len": 32, "log_every": 1,
              "save_every": 1000, "warmup_ratio": 0.1, "heartbeat_seconds": 60, **train}  # fmt: skip
    finetuning = config.pop("finetuning", "full")
    method = config.pop("method", "cpt")
    return JobSpec(
        run_id="run-1",
        kind="train",
        method=method,
        finetuning=finetuning,
        base_model=str(tiny_model),
        output_dir=str(output_dir),
        snapshot_dir=str(folder),
        snapshot_sha256=sha256,
        snapshot_name="snapshot-2026-11",
        partners=["Alpha Archive", "Beta Bibliotheek"],
        train=TrainConfig(**config),
    )


class Recorder(list):
    """An ``emit`` that keeps the events, for in-process runs."""

    def __call__(self, event):
        self.append(event.to_dict())

    def of(self, kind):
        return [e for e in self if e["event"] == kind]
