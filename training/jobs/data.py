"""Snapshot reading and tokenisation for the training job.

A snapshot is a folder of Parquet shards written by the portal with
Hugging Face ``datasets``::

    <snapshot_dir>/manifest.json
    <snapshot_dir>/<lang>/<split>-00000.parquet
    ...

Pre-training rows carry ``kind``, ``language`` and ``text``; instruction and
conversation rows carry ``messages`` (a list of ``{role, content}``) or
``prompt``/``response``; preference rows carry TRL's ``prompt``, ``chosen``
and ``rejected`` (training/snapshots/writer.py: a conversation prompt in
``prompt_messages``, ``rejected`` a list, one answer for a pair, a ranking's
worse ones best first). Shards are read with pyarrow in record batches, so a
shard never has to fit in memory as Python objects all at once.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import pyarrow.parquet as pq
import torch

from training.jobs.token_cache import PackedBlocks, token_cache_build, token_cache_open, token_dtype

IGNORE_INDEX = -100  # label value that cross-entropy skips
MANIFEST = "manifest.json"
_COLUMNS = ("kind", "language", "text", "messages", "prompt", "response", "system", "prompt_messages", "chosen", "rejected")


class SnapshotError(RuntimeError):
    """The snapshot is missing, incomplete or not the one the spec names."""


# -- reading ------------------------------------------------------------------


def verify_snapshot(snapshot_dir: str | Path, expected_sha256: str | None) -> str | None:
    """Check ``manifest.json`` against the spec's checksum; return the manifest's sha256.

    The manifest lists the shards and their own checksums, so pinning the
    manifest pins the whole snapshot.
    """
    manifest = Path(snapshot_dir) / MANIFEST
    if not manifest.is_file():
        if expected_sha256:
            raise SnapshotError(f"{manifest} is missing but the spec pins sha256 {expected_sha256}")
        return None
    digest = hashlib.sha256(manifest.read_bytes()).hexdigest()
    if expected_sha256 and digest != expected_sha256.lower():
        raise SnapshotError(f"snapshot manifest sha256 is {digest}, the spec expects {expected_sha256}")
    return digest


def snapshot_files(
    snapshot_dir: str | Path, split: str = "train", languages: Iterable[str] | None = None
) -> list[Path]:
    """The shards of one split, sorted by language then shard number."""
    root = Path(snapshot_dir)
    if not root.is_dir():
        raise SnapshotError(f"snapshot folder not found: {root}")
    wanted = set(languages) if languages else None
    files = sorted(
        path for path in root.glob(f"*/{split}-*.parquet") if wanted is None or path.parent.name in wanted
    )
    if not files:
        raise SnapshotError(f"no {split} shards in {root}")
    return files


def iter_rows(files: Iterable[Path], batch_rows: int = 4096) -> Iterator[dict]:
    """Rows as dicts, only the columns this module knows about."""
    for path in files:
        shard = pq.ParquetFile(path)
        columns = [name for name in _COLUMNS if name in shard.schema_arrow.names]
        for batch in shard.iter_batches(batch_size=batch_rows, columns=columns):
            yield from batch.to_pylist()


def row_messages(row: dict) -> list[dict] | None:
    """A row as a chat, or None when it is plain text."""
    if row.get("messages"):
        return [{"role": m["role"], "content": m["content"]} for m in row["messages"]]
    if row.get("prompt") and row.get("response"):
        chat = [{"role": "system", "content": row["system"]}] if row.get("system") else []
        return chat + [{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": row["response"]}]
    return None


# -- continual pre-training: pack documents into fixed blocks --------------------


def pack_cpt(tokenizer, texts: Iterable[str], seq_len: int, chunk: int = 1024) -> list[dict]:
    """Concatenate documents with EOS between them and cut into ``seq_len`` blocks.

    Every token a Python int: the job reads CPT from the token cache instead
    (:func:`cpt_blocks`); this stays as the definition the cache is tested
    and benchmarked against (bench/cpt_tokens.py).

    Nothing is thrown away: the last, partial block is padded and its padding
    is masked out of the loss. Labels equal inputs; the model shifts them.
    """
    eos = tokenizer.eos_token_id
    stream: list[int] = []
    blocks: list[dict] = []
    for texts_chunk in _chunks((t for t in texts if t), chunk):
        for ids in tokenizer(texts_chunk, add_special_tokens=False)["input_ids"]:
            stream.extend(ids)
            stream.append(eos)
        while len(stream) >= seq_len:
            block, stream = stream[:seq_len], stream[seq_len:]
            blocks.append({"input_ids": block, "labels": block})
    if stream:
        pad = seq_len - len(stream)
        blocks.append(
            {
                "input_ids": stream + [tokenizer.pad_token_id] * pad,
                "labels": stream + [IGNORE_INDEX] * pad,
            }
        )
    return blocks


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# -- instruction tuning: chat template, loss only on the assistant ---------------


def encode_sft(tokenizer, messages: list[dict], seq_len: int) -> dict | None:
    """Render a chat with the tokenizer's template; label only the assistant's tokens.

    The template marks assistant turns with ``{% generation %}``; everything
    else (system, user, [INST] markers) gets label -100. Truncated to seq_len;
    None when truncation leaves no assistant token to learn (a prompt longer
    than seq_len), as DPO drops such a pair: one long row must not fail the run.
    """
    encoded = tokenizer.apply_chat_template(
        messages, return_dict=True, return_assistant_tokens_mask=True, tokenize=True
    )
    if not any(encoded["assistant_masks"]):
        raise ValueError("the chat template marks no assistant tokens: it needs a {% generation %} block")
    ids = list(encoded["input_ids"])[:seq_len]
    mask = list(encoded["assistant_masks"])[:seq_len]
    if not any(mask):
        return None
    labels = [token if keep else IGNORE_INDEX for token, keep in zip(ids, mask)]
    return {"input_ids": ids, "labels": labels}


# -- preference optimisation: prompt, chosen and rejected completions -----------


def row_pairs(row: dict) -> list[tuple[str | list[dict], str, str]]:
    """A preference row as (prompt, chosen, rejected) pairs: the chosen answer against each rejected one.

    The prompt is a string or, for a conversation, its turns; [] for a row of another kind.
    """
    prompt = row.get("prompt_messages") or row.get("messages") or row.get("prompt")
    rejected = row.get("rejected")
    if not prompt or not row.get("chosen") or not rejected:
        return []
    if isinstance(prompt, list):
        prompt = [{"role": m["role"], "content": m["content"]} for m in prompt]
    return [(prompt, row["chosen"], other) for other in ([rejected] if isinstance(rejected, str) else rejected)]


def encode_pair(tokenizer, prompt: str | list[dict], chosen: str, rejected: str, seq_len: int) -> dict | None:
    """Token ids of the prompt and of each completion, as TRL's DPOTrainer makes them; None when truncation leaves nothing.

    With a chat template, prompt + answer is rendered as a conversation ending
    in the assistant's turn (a string prompt is the user's); without one, the
    texts are concatenated and EOS appended. The completion starts where the
    prompt's own rendering (with the generation prompt) stops being a prefix.
    Each sequence keeps its first ``seq_len`` tokens (TRL's ``truncation_mode="keep_start"``).
    """
    if tokenizer.chat_template:
        turns = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        prompt_ids = _chat_ids(tokenizer, turns, add_generation_prompt=True)
        full = [_chat_ids(tokenizer, turns + [{"role": "assistant", "content": answer}]) for answer in (chosen, rejected)]
    else:
        text = prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)
        eos = tokenizer.eos_token
        prompt_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        full = [tokenizer(text + answer + ("" if answer.endswith(eos) else eos), add_special_tokens=False)["input_ids"]
                for answer in (chosen, rejected)]  # fmt: skip
    start = min(_common_prefix(prompt_ids, ids) for ids in full)
    if start >= seq_len:
        return None
    prompt_ids = prompt_ids[:start]
    chosen_ids, rejected_ids = (ids[start:seq_len] for ids in full)
    return {"prompt_ids": prompt_ids, "chosen_ids": chosen_ids, "rejected_ids": rejected_ids}


def _chat_ids(tokenizer, messages: list[dict], add_generation_prompt: bool = False) -> list[int]:
    encoded = tokenizer.apply_chat_template(
        messages, tokenize=True, return_dict=True, add_generation_prompt=add_generation_prompt
    )
    return list(encoded["input_ids"])


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def collate_pairs(examples: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Prompt + chosen for every pair, then prompt + rejected: 2 × pairs sequences, labels only on the completions.

    ``reference`` (the reference model's log-probabilities, chosen then
    rejected) comes along where the examples carry it.
    """
    sequences = [
        {"input_ids": e["prompt_ids"] + e[answer], "labels": [IGNORE_INDEX] * len(e["prompt_ids"]) + e[answer]}
        for answer in ("chosen_ids", "rejected_ids")
        for e in examples
    ]
    batch = collate(sequences, pad_id)
    if all("reference" in e for e in examples):
        batch["reference"] = torch.tensor([e["reference"][i] for i in (0, 1) for e in examples], dtype=torch.float32)
    return batch


# -- the examples the training loop sees ---------------------------------------


def load_examples(
    tokenizer, snapshot_dir: str | Path, method: str, seq_len: int, languages=None, *,
    cache_dir: str | Path | None = None, rank: int = 0, world_size: int = 1, barrier: Callable[[], None] = lambda: None,
) -> Sequence[dict]:  # fmt: skip
    """All training examples of a snapshot's ``train`` split, tokenised for ``method``.

    CPT: :class:`PackedBlocks` over the token cache in ``cache_dir`` (a
    temporary folder, removed with the blocks, when None), made by the
    ``world_size`` ranks together (:func:`token_cache_build`, which calls
    ``barrier``). DPO takes the split's preference rows, one example per
    (chosen, rejected) pair; SFT and DPO data are small and stay in lists.
    """
    files = snapshot_files(snapshot_dir, "train", languages)
    if method == "cpt":
        examples = cpt_blocks(tokenizer, snapshot_dir, files, seq_len, cache_dir, rank, world_size, barrier)
    elif method == "dpo":
        pairs = (encode_pair(tokenizer, *pair, seq_len) for row in iter_rows(files) for pair in row_pairs(row))
        examples = [pair for pair in pairs if pair is not None]
    else:
        chats = (row_messages(row) for row in iter_rows(files))
        encoded = (encode_sft(tokenizer, chat, seq_len) for chat in chats if chat)
        examples = [example for example in encoded if example is not None]
    if not len(examples):
        raise SnapshotError(f"the snapshot holds no rows usable for {method}")
    return examples


def cpt_blocks(tokenizer, snapshot_dir, files, seq_len, cache_dir, rank, world_size, barrier) -> PackedBlocks:
    """The snapshot's token cache, cut into ``seq_len`` blocks as :func:`pack_cpt` cuts its stream."""
    temporary = cache_dir is None
    cache_dir = Path(tempfile.mkdtemp(prefix="occiportal-tokens-")) if temporary else Path(cache_dir)
    manifest = Path(snapshot_dir) / MANIFEST
    shards = json.loads(manifest.read_text()).get("shards", []) if manifest.is_file() else []
    shard_sha256 = {Path(snapshot_dir) / shard["path"]: shard["sha256"] for shard in shards if shard.get("sha256")}
    # The manifest's checksum names a snapshot wherever it was fetched to; without one, its folder does.
    snapshot_id = verify_snapshot(snapshot_dir, None) or str(Path(snapshot_dir).resolve())
    paths = token_cache_build(
        tokenizer, files, cache_dir, snapshot_id=snapshot_id, shard_sha256=shard_sha256, rank=rank,
        world_size=world_size, barrier=barrier,
    )  # fmt: skip
    arrays = token_cache_open(paths, token_dtype(tokenizer))
    blocks = PackedBlocks(arrays, seq_len, tokenizer.pad_token_id, IGNORE_INDEX)
    if temporary:  # the maps stay readable after the files are removed
        weakref.finalize(blocks, shutil.rmtree, cache_dir, True)
    return blocks


@dataclass
class Batches:
    """Deterministic shuffled micro-batches, addressable by position for resume.

    Epoch ``e`` is shuffled with ``seed + e``, so micro-batch ``k`` is the same
    whether the run started at 0 or resumed from a checkpoint. Under data
    parallelism a micro-batch holds ``batch_size`` sequences for each of
    ``world_size`` ranks and this rank collates its own share: together the
    ranks see what one process with ``batch_size * world_size`` would.
    The order is a numpy array (int32 below 2^31 examples), not a list of
    Python ints: 4 bytes per example of a CPT snapshot's millions of blocks.
    """

    examples: Sequence[dict]
    batch_size: int  # per rank
    seed: int
    pad_id: int
    rank: int = 0
    world_size: int = 1
    pairs: bool = False  # preference pairs (collate_pairs), not sequences

    @property
    def per_epoch(self) -> int:
        return max(1, len(self.examples) // (self.batch_size * self.world_size))

    def order(self, epoch: int) -> np.ndarray:
        """Epoch ``epoch``'s permutation of the example indices."""
        count = len(self.examples)
        order = np.arange(count, dtype=np.int32 if count < 2**31 else np.int64)
        np.random.default_rng(self.seed + epoch).shuffle(order)
        return order

    def iterate(self, start: int = 0) -> Iterator[dict]:
        """This rank's share of the micro-batches from global micro-batch index ``start`` on, forever."""
        width = self.batch_size * self.world_size
        mine = slice(self.rank * self.batch_size, (self.rank + 1) * self.batch_size)
        epoch, offset = divmod(start, self.per_epoch)
        while True:
            order = self.order(epoch)
            for index in range(offset, self.per_epoch):
                chosen = order[index * width : (index + 1) * width]
                if len(chosen) < width:  # fewer examples than one batch
                    chosen = np.resize(order, width)
                yield (collate_pairs if self.pairs else collate)([self.examples[i] for i in chosen[mine]], self.pad_id)
            epoch, offset = epoch + 1, 0


def collate(examples: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad to the longest example; padding is masked from attention and loss."""
    width = max(len(e["input_ids"]) for e in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example["input_ids"])
        input_ids[row, :n] = torch.tensor(example["input_ids"])
        labels[row, :n] = torch.tensor(example["labels"])
        attention_mask[row, :n] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}
