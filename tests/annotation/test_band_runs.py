"""Sorted runs on disk (annotation/dedup/runs.py): external sort, streaming merge, directory written as it goes."""

import numpy as np
import pytest

from annotation.dedup import runs, search
from annotation.dedup.index import MAX_RUNS, NO_OWNER, BandIndex, owner_keys
from annotation.dedup.runs import merge_sorted, run_blocks, run_size, sort_external, write_run


def _entries(folder):
    blocks = list(run_blocks(folder, 1000))
    return np.concatenate([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks])


@pytest.fixture
def small_blocks(monkeypatch):
    """Spills of 50 entries, merges of 3 runs at a time, 8 entries buffered: every path of the merge is taken."""
    monkeypatch.setattr(runs, "SPILL", 50)
    monkeypatch.setattr(runs, "FAN_IN", 3)
    monkeypatch.setattr(runs, "MERGE", 8)


def test_an_external_sort_in_bounded_spills_equals_one_sort(tmp_path, small_blocks):
    rng = np.random.default_rng(3)
    batches = [(rng.integers(0, 40, size=n).astype(np.uint64), rng.integers(0, 1000, size=n).astype(np.uint64))
               for n in rng.integers(0, 30, size=40)]  # few keys: many equal ones across blocks and spills
    spilled = sort_external(iter(batches), tmp_path / "spills")
    write_run(tmp_path / "run", merge_sorted([run_blocks(run, 4) for run in spilled]), sum(map(run_size, spilled)))

    keys = np.concatenate([b[0] for b in batches])
    owners = np.concatenate([b[1] for b in batches])
    order = np.lexsort((owners, keys))
    got_keys, got_owners = _entries(tmp_path / "run")
    assert len(spilled) <= 3  # merged in passes down to FAN_IN
    assert (got_keys == keys[order]).all() and (got_owners == owners[order]).all()


def test_a_merge_reads_past_blocks_of_one_key(tmp_path):
    one_key = (np.full(40, 7, dtype=np.uint64), np.arange(40, dtype=np.uint64) * 2)
    other = (np.array([1, 7, 7, 9], dtype=np.uint64), np.array([5, 1, 79, 0], dtype=np.uint64))
    write_run(tmp_path / "a", [one_key], 40)
    write_run(tmp_path / "b", [other], 4)

    merged = list(merge_sorted([run_blocks(tmp_path / "a", 4), run_blocks(tmp_path / "b", 2)]))

    keys = np.concatenate([m[0] for m in merged])
    owners = np.concatenate([m[1] for m in merged])
    assert keys.tolist() == [1] + [7] * 42 + [9]
    assert owners.tolist() == [5, 0, 1] + list(range(2, 79, 2)) + [79, 0]


def test_the_directory_written_block_by_block_equals_one_written_whole(tmp_path):
    keys = np.sort(np.random.default_rng(4).integers(0, 2**64, size=5000, dtype=np.uint64))
    owners = np.arange(len(keys), dtype=np.uint64)
    write_run(tmp_path / "whole", [(keys, owners)], len(keys))
    write_run(tmp_path / "blocks", [(keys[i : i + 37], owners[i : i + 37]) for i in range(0, len(keys), 37)], len(keys))

    whole = np.load(tmp_path / "whole" / "directory.npy")
    assert (np.load(tmp_path / "blocks" / "directory.npy") == whole).all()
    assert len(whole) > 2 and whole[-1] == len(keys)


def test_compaction_and_spills_keep_every_lookup(tmp_path, small_blocks, monkeypatch):
    monkeypatch.setattr(search, "_RESIDENT", 2.0)  # always ask for the pages, as a cold lookup does
    rng = np.random.default_rng(5)
    index, stored = BandIndex(tmp_path), []
    for run in range(MAX_RUNS + 3):
        batches = [(rng.integers(0, 80, size=30).astype(np.uint64), owner_keys(run, rng.integers(1, 500, size=30)))
                   for _ in range(4)]  # 120 entries: three spills of 50 at most
        with index.locked():
            index.add(iter(batches), [str(run)])
        stored += [(k, o) for keys, owners in batches for k, o in zip(keys.tolist(), owners.tolist())]
    queries = np.arange(90, dtype=np.uint64)

    first = index.first_owners(queries)
    positions, owners = index.matches(queries)

    for q in range(90):
        mine = sorted(o for k, o in stored if k == q)
        assert first[q] == (mine[0] if mine else NO_OWNER)
        assert sorted(owners[positions == q].tolist()) == mine
    assert len(index._manifest()["runs"]) <= MAX_RUNS and index.size() == len(stored)
    assert not (tmp_path / "spills.tmp").exists()


def _mapped_kib(folder) -> int:
    """Resident KiB of this process's mappings of files under ``folder`` (/proc/self/smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5:  # a mapping's header line
                inside = len(fields) >= 6 and fields[5].startswith(str(folder))
            elif inside and fields[0] == "Rss:":
                total += int(fields[1])
    return total


def test_a_lookup_leaves_no_more_than_a_block_of_a_run_mapped(tmp_path):
    keys = np.sort(np.random.default_rng(6).integers(0, 2**64, size=1 << 21, dtype=np.uint64))  # 16 MiB a file
    index = BandIndex(tmp_path)
    with index.locked():
        index.add_sorted([(keys, np.arange(len(keys), dtype=np.uint64))], len(keys), ["one"])

    first = index.first_owners(keys[::50])  # 40,000 keys, found: spread over every page of keys and owners
    positions, _owners = index.matches(keys[::50])

    assert (first == np.arange(0, len(keys), 50)).all() and len(positions) == len(first)
    assert _mapped_kib(tmp_path) < 2048
