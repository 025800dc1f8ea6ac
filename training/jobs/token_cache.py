"""Continual pre-training data as token files on disk, not as Python lists.

A CPT snapshot holds 10^9 to 10^11 tokens per language: as Python ints in
lists (about 36 bytes a token) no rank could hold it. As Megatron's indexed
datasets and nanoGPT's ``.bin`` files do, each train shard is tokenised once,
in bounded-memory batches, into a flat file of token ids (uint16 when the
vocabulary fits, else uint32) with EOS after each document, and read back
memory-mapped::

    <cache_dir>/<key>/00000.bin    the tokens of the first shard
    <cache_dir>/<key>/00000.json   what they were made from (tokenizer, shard, dtype, count)

``key`` names the snapshot and the tokenizer, so one cache serves one pair.
A ``.bin`` is written under a temporary name and renamed, then its sidecar
the same way: the sidecar marks it complete. A resumed attempt reuses every
file whose sidecar still matches and rebuilds the others.

The concatenation of the files is exactly the stream ``data.pack_cpt`` makes,
and :class:`PackedBlocks` cuts it into the same blocks.
"""

from __future__ import annotations

import hashlib
import json
import operator
import os
from itertools import chain
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pyarrow.parquet as pq

FORMAT = 1  # bump when the files' layout or meaning changes: old caches are rebuilt
BATCH_ROWS = 1024  # documents per tokenizer call: bounds the Python lists alive at once


def tokenizer_identity(tokenizer) -> str:
    """A sha256 of everything that decides the ids: the fast tokenizer's whole definition (vocab, merges,
    normalizer, added tokens), or a slow one's vocabulary, and EOS."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    definition = backend.to_str() if backend is not None else json.dumps(sorted(tokenizer.get_vocab().items()))
    extra = json.dumps([type(tokenizer).__name__, tokenizer.eos_token_id, getattr(tokenizer, "split_special_tokens", False)])
    return hashlib.sha256((definition + extra).encode()).hexdigest()


def token_dtype(tokenizer) -> np.dtype:
    return np.dtype(np.uint16 if len(tokenizer) <= 2**16 else np.uint32)


def token_cache_build(
    tokenizer,
    files: Sequence[Path],
    cache_dir: Path,
    *,
    snapshot_id: str,
    shard_sha256: dict[Path, str] | None = None,
    rank: int = 0,
    world_size: int = 1,
    barrier: Callable[[], None] = lambda: None,
) -> list[Path]:
    """Tokenise ``files`` (in this order) into ``cache_dir``; return the token files, one per input file.

    Rank ``r`` of ``world_size`` tokenises files r, r+N, r+2N, … in rounds
    of N files, all ranks meeting at ``barrier`` after each round: a wait
    lasts at most one file's tokenisation, however large the snapshot, so it
    stays within the process group's timeout. After the last round every
    rank checks every file and makes any it does not find (``cache_dir`` on
    a folder that the hosts do not share): slower, never wrong.
    ``shard_sha256`` (the manifest's, by path) identifies a shard; without
    it, its name, size and modification time do.
    """
    identity = tokenizer_identity(tokenizer)
    folder = Path(cache_dir) / hashlib.sha256(f"{snapshot_id}\n{identity}".encode()).hexdigest()[:20]
    folder.mkdir(parents=True, exist_ok=True)
    targets = [folder / f"{index:05d}.bin" for index in range(len(files))]
    expected = [_sidecar(tokenizer, identity, path, (shard_sha256 or {}).get(path)) for path in files]
    for first in range(0, len(files), world_size):
        index = first + rank
        if index < len(files) and not _valid(targets[index], expected[index]):
            _tokenize_file(tokenizer, files[index], targets[index], expected[index])
        barrier()
    for index in range(len(files)):
        if not _valid(targets[index], expected[index]):
            _tokenize_file(tokenizer, files[index], targets[index], expected[index])
    return targets


def _sidecar(tokenizer, identity: str, path: Path, sha256: str | None) -> dict:
    stat = path.stat()
    source = {"name": f"{path.parent.name}/{path.name}", "bytes": stat.st_size}
    source.update({"sha256": sha256} if sha256 else {"mtime_ns": stat.st_mtime_ns})
    return {"format": FORMAT, "tokenizer": identity, "eos_token_id": tokenizer.eos_token_id,
            "dtype": token_dtype(tokenizer).name, "source": source}  # fmt: skip


def _valid(target: Path, expected: dict) -> bool:
    """The sidecar says the file was made from this shard by this tokenizer, and the file is all there."""
    try:
        found = json.loads(target.with_suffix(".json").read_text())
        size = target.stat().st_size
    except (OSError, ValueError):
        return False
    tokens = found.pop("tokens", None)
    return found == expected and isinstance(tokens, int) and size == tokens * np.dtype(expected["dtype"]).itemsize


def _tokenize_file(tokenizer, source: Path, target: Path, sidecar: dict) -> None:
    """One shard's ``text`` column, documents in order, each followed by EOS, written atomically."""
    dtype, eos = np.dtype(sidecar["dtype"]), tokenizer.eos_token_id
    tokens = 0
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")  # two hosts may make the same file
    with open(partial, "wb") as out:
        for texts in iter_texts(source):
            ids = tokenizer(texts, add_special_tokens=False, return_attention_mask=False)["input_ids"]
            count = sum(map(len, ids)) + len(ids)
            flat = np.fromiter(chain.from_iterable(chain(doc, (eos,)) for doc in ids), dtype=dtype, count=count)
            flat.tofile(out)
            tokens += count
        out.flush()
        os.fsync(out.fileno())
    partial.rename(target)
    _write_atomically(target.with_suffix(".json"), json.dumps({**sidecar, "tokens": tokens}, indent=1))


def iter_texts(path: Path, batch_rows: int = BATCH_ROWS):
    """The shard's non-empty texts in batches of at most ``batch_rows``; nothing for a shard without a text column."""
    shard = pq.ParquetFile(path)
    if "text" not in shard.schema_arrow.names:
        return
    for batch in shard.iter_batches(batch_size=batch_rows, columns=["text"]):
        texts = [text for text in batch.column(0).to_pylist() if text]
        if texts:
            yield texts


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(text)
    partial.rename(path)


def token_cache_open(paths: Sequence[Path], dtype: np.dtype) -> list[np.ndarray]:
    """The token files, memory-mapped read-only (an empty file as an empty array: mmap refuses length 0).

    A file that another rank replaces meanwhile (the same tokens) stays mapped as it was.
    """
    return [np.memmap(path, dtype=dtype, mode="r") if path.stat().st_size else np.empty(0, dtype) for path in paths]


class PackedBlocks:
    """The blocks of ``seq_len`` tokens that ``data.pack_cpt`` makes, read from token arrays on demand.

    Block ``i`` is ``tokens[i*seq_len:(i+1)*seq_len]`` of the arrays' virtual
    concatenation (it may span two or more of them); the last, partial block
    is padded with ``pad_id`` and its padding labelled ``IGNORE_INDEX``. It
    keeps the arrays and their offsets: memory O(files), not O(tokens).
    """

    def __init__(self, arrays: Sequence[np.ndarray], seq_len: int, pad_id: int, ignore_index: int):
        self.arrays = list(arrays)
        self.offsets = np.cumsum([0] + [len(a) for a in self.arrays], dtype=np.int64)
        self.seq_len, self.pad_id, self.ignore_index = seq_len, pad_id, ignore_index

    @property
    def tokens(self) -> int:
        return int(self.offsets[-1])

    def __len__(self) -> int:
        return -(-self.tokens // self.seq_len)

    def __getitem__(self, index) -> dict:
        index = operator.index(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"block {index} of {len(self)}")
        start = index * self.seq_len
        stop = min(start + self.seq_len, self.tokens)
        ids = self.tokens_between(start, stop).tolist()
        pad = self.seq_len - len(ids)
        if not pad:
            return {"input_ids": ids, "labels": ids}
        return {"input_ids": ids + [self.pad_id] * pad, "labels": ids + [self.ignore_index] * pad}

    def tokens_between(self, start: int, stop: int) -> np.ndarray:
        """The stream's tokens ``[start, stop)``, as int64, from however many arrays they lie in."""
        first = int(np.searchsorted(self.offsets, start, side="right")) - 1
        pieces = []
        for array, offset in zip(self.arrays[first:], self.offsets[first:]):
            if offset >= stop:
                break
            pieces.append(array[max(start - offset, 0) : stop - offset])
        return np.concatenate(pieces).astype(np.int64) if pieces else np.empty(0, np.int64)
