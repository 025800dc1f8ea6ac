"""CPT's token cache: the stream and blocks pack_cpt made, from memory-mapped files, made once, by every rank."""

import json
import os
import random
import socket
import tracemalloc

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch.multiprocessing as mp
from transformers import AutoTokenizer

from tests.training.jobs.conftest import GERMAN, PORTUGUESE
from training.jobs import token_cache
from training.jobs.data import IGNORE_INDEX, Batches, iter_rows, load_examples, pack_cpt, snapshot_files
from training.jobs.token_cache import PackedBlocks


@pytest.fixture
def tokenizer(tiny_model):
    return AutoTokenizer.from_pretrained(tiny_model)


def write_shards(root, shards: dict[str, list]) -> None:
    """``{"de/train-00000.parquet": [text, ...]}``; a shard of ``None`` rows has no text column at all."""
    for name, texts in shards.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        table = pa.table({"text": texts} if any(t is not None for t in texts) else {"kind": ["x"] * len(texts)})
        pq.write_table(table, root / name)


@pytest.fixture
def shards_snapshot(tmp_path):
    """Several shards per language, an empty text, a missing one, and shards that hold no text at all."""
    root = tmp_path / "snapshot"
    write_shards(root, {
        "de/train-00000.parquet": GERMAN * 3 + ["", None],
        "de/train-00001.parquet": GERMAN[::-1] * 2,
        "de/train-00002.parquet": ["", ""],
        "de/train-00003.parquet": [None, None],
        "pt/train-00000.parquet": PORTUGUESE * 4,
        "pt/train-00001.parquet": PORTUGUESE[:1],
    })  # fmt: skip
    return root


def old_blocks(tokenizer, folder, seq_len):
    """What load_examples returned for CPT before the cache: pack_cpt over every text, file after file."""
    return pack_cpt(tokenizer, (row.get("text") for row in iter_rows(snapshot_files(folder))), seq_len)


def stream_of(blocks) -> list[int]:
    return [token for block in blocks for token, label in zip(block["input_ids"], block["labels"]) if label != IGNORE_INDEX]


def counting(monkeypatch, tokenizer) -> list:
    calls = []
    original = type(tokenizer).__call__

    def spy(self, *args, **kwargs):
        calls.append(args[0] if args else kwargs.get("text"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(tokenizer), "__call__", spy)
    return calls


def test_the_files_hold_pack_cpts_stream_and_the_blocks_are_its_blocks(tokenizer, shards_snapshot, tmp_path):
    blocks = load_examples(tokenizer, shards_snapshot, "cpt", seq_len=7, cache_dir=tmp_path / "cache")
    expected = old_blocks(tokenizer, shards_snapshot, seq_len=7)

    assert isinstance(blocks, PackedBlocks) and len(blocks.arrays) == 6
    assert np.concatenate(blocks.arrays).tolist() == stream_of(expected)
    assert [len(a) for a in blocks.arrays][2:4] == [0, 0]  # empty texts, and a shard without a text column
    assert len(blocks) == len(expected)
    assert [blocks[i] for i in range(len(blocks))] == expected
    spans = [i for i in range(len(blocks)) if len({int(np.searchsorted(blocks.offsets, t, "right")) for t in
             range(i * 7, min((i + 1) * 7, blocks.tokens))}) > 1]  # fmt: skip
    assert spans, "no block spans two files: the test proves less than it says"
    assert blocks.arrays[0].dtype == np.uint16  # a 512-token vocabulary
    with pytest.raises(IndexError):
        blocks[len(blocks)]


def test_one_block_of_the_whole_stream_and_one_padded_past_it(tokenizer, shards_snapshot, tmp_path):
    tokens = load_examples(tokenizer, shards_snapshot, "cpt", seq_len=8, cache_dir=tmp_path / "cache").tokens
    for seq_len in (tokens, tokens + 3):
        blocks = load_examples(tokenizer, shards_snapshot, "cpt", seq_len=seq_len, cache_dir=tmp_path / "cache")
        assert len(blocks) == 1 and [blocks[0]] == old_blocks(tokenizer, shards_snapshot, seq_len)
    assert blocks[0]["input_ids"][-3:] == [tokenizer.pad_token_id] * 3
    assert blocks[0]["labels"][-4:] == [tokenizer.eos_token_id] + [IGNORE_INDEX] * 3


def test_a_resumed_attempt_reuses_the_files_without_tokenising(tokenizer, shards_snapshot, tmp_path, monkeypatch):
    first = load_examples(tokenizer, shards_snapshot, "cpt", seq_len=16, cache_dir=tmp_path / "cache")
    calls = counting(monkeypatch, tokenizer)

    again = load_examples(tokenizer, shards_snapshot, "cpt", seq_len=16, cache_dir=tmp_path / "cache")

    assert calls == []
    assert [again[i] for i in range(len(again))] == [first[i] for i in range(len(first))]


def test_a_changed_shard_or_a_broken_file_is_made_again_and_only_it(tokenizer, shards_snapshot, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    load_examples(tokenizer, shards_snapshot, "cpt", seq_len=16, cache_dir=cache)
    (folder,) = cache.iterdir()
    write_shards(shards_snapshot, {"pt/train-00001.parquet": ["Uma frase nova e mais longa."]})
    with open(folder / "00000.bin", "r+b") as made:  # a file cut short, its sidecar intact
        made.truncate(4)
    calls = counting(monkeypatch, tokenizer)

    blocks = load_examples(tokenizer, shards_snapshot, "cpt", seq_len=16, cache_dir=cache)

    assert sorted(len(texts) for texts in calls) == [1, 3 * len(GERMAN)]  # de/00000 and pt/00001, no other
    assert [blocks[i] for i in range(len(blocks))] == old_blocks(tokenizer, shards_snapshot, seq_len=16)
    sidecar = json.loads((folder / "00005.json").read_text())
    assert sidecar["tokens"] == len(blocks.arrays[5]) and sidecar["source"]["name"] == "pt/train-00001.parquet"


def test_another_tokenizer_gets_a_cache_of_its_own(tokenizer, tiny_model, shards_snapshot, tmp_path):
    cache = tmp_path / "cache"
    load_examples(tokenizer, shards_snapshot, "cpt", seq_len=16, cache_dir=cache)
    other = AutoTokenizer.from_pretrained(tiny_model)
    other.add_tokens(["Fuchs"])
    load_examples(other, shards_snapshot, "cpt", seq_len=16, cache_dir=cache)
    assert len(list(cache.iterdir())) == 2


def test_the_manifests_checksums_identify_the_shards(tokenizer, cpt_snapshot, tmp_path):
    folder, _ = cpt_snapshot
    load_examples(tokenizer, folder, "cpt", seq_len=16, cache_dir=tmp_path / "cache")
    manifest = json.loads((folder / "manifest.json").read_text())
    sidecars = sorted((tmp_path / "cache").glob("*/*.json"))
    assert [json.loads(s.read_text())["source"]["sha256"] for s in sidecars] == [s["sha256"] for s in manifest["shards"]]


def test_without_a_cache_folder_the_files_go_when_the_blocks_do(tokenizer, shards_snapshot):
    blocks = load_examples(tokenizer, shards_snapshot, "cpt", seq_len=16)
    path = blocks.arrays[0].filename
    assert os.path.exists(path)
    del blocks
    assert not os.path.exists(os.path.dirname(path))


def test_batches_resume_over_packed_blocks(tokenizer, shards_snapshot, tmp_path):
    blocks = load_examples(tokenizer, shards_snapshot, "cpt", seq_len=8, cache_dir=tmp_path / "cache")
    batches = Batches(blocks, batch_size=2, seed=3, pad_id=tokenizer.pad_token_id)
    straight = batches.iterate(0)
    first_run = [next(straight)["input_ids"].tolist() for _ in range(2 * batches.per_epoch + 1)]
    resumed = batches.iterate(batches.per_epoch - 1)
    assert [next(resumed)["input_ids"].tolist() for _ in range(3)] == first_run[batches.per_epoch - 1 : batches.per_epoch + 2]
    assert sorted(map(tuple, first_run[: batches.per_epoch])) != first_run[: batches.per_epoch]  # shuffled


# -- two ranks: each tokenises its share, all read every file ---------------------------------------------


def _rank(rank, port, model, snapshot, cache, results):
    import torch.distributed as dist

    from training.jobs import train

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    made = []
    original = token_cache._tokenize_file

    def tokenize_file(tokenizer, source, *rest):
        made.append(f"{source.parent.name}/{source.name}")
        original(tokenizer, source, *rest)

    token_cache._tokenize_file = tokenize_file
    blocks = load_examples(AutoTokenizer.from_pretrained(model), snapshot, "cpt", 7, cache_dir=cache,
                           rank=train.rank(), world_size=train.world_size(), barrier=train.barrier)  # fmt: skip
    (results / f"{rank}.json").write_text(json.dumps({"made": made, "blocks": [blocks[i] for i in range(len(blocks))]}))
    dist.barrier()
    dist.destroy_process_group()


def test_two_ranks_share_the_tokenising_and_read_the_same_blocks(tokenizer, tiny_model, shards_snapshot, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mp.spawn(_rank, args=(port, str(tiny_model), str(shards_snapshot), str(tmp_path / "cache"), results), nprocs=2)

    ranks = [json.loads((results / f"{r}.json").read_text()) for r in (0, 1)]
    names = [f"{p.parent.name}/{p.name}" for p in snapshot_files(shards_snapshot)]
    assert ranks[0]["made"] == names[0::2] and ranks[1]["made"] == names[1::2]
    assert ranks[0]["blocks"] == ranks[1]["blocks"] == old_blocks(tokenizer, shards_snapshot, seq_len=7)


# -- memory ---------------------------------------------------------------------------------------------


def test_tokenising_two_million_tokens_keeps_python_memory_flat(tokenizer, tmp_path):
    """The old path held the whole stream as Python ints; the cache holds one batch of documents at a time."""
    rng = random.Random(0)
    words = " ".join(GERMAN + PORTUGUESE).split()
    docs = [" ".join(rng.choices(words, k=100)) for _ in range(16_500)]  # about 120 tokens each
    write_shards(tmp_path / "big", {f"de/train-0000{i}.parquet": docs[i::4] for i in range(4)})

    tracemalloc.start()
    try:
        blocks = load_examples(tokenizer, tmp_path / "big", "cpt", seq_len=256, cache_dir=tmp_path / "cache")
        cache_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        old = old_blocks(tokenizer, tmp_path / "big", seq_len=256)
        old_peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()

    assert blocks.tokens > 1_900_000 and len(old) == len(blocks)
    print(f"peak Python memory: cache {cache_peak / 2**20:.1f} MiB, pack_cpt {old_peak / 2**20:.1f} MiB")
    assert cache_peak < 16 * 2**20, cache_peak
    assert cache_peak * 5 < old_peak, (cache_peak, old_peak)
