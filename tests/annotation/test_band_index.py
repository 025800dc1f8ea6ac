"""The band index on its own (annotation/dedup, no Django): lookups, compaction, concurrent writers."""

import threading

import numpy as np
import pytest

from annotation.dedup.index import MAX_RUNS, NO_OWNER, BandIndex, band_keys, owner_keys


def _add(index, keys, owners, tag):
    with index.locked():
        index.add([(keys, owners)], [tag])


def test_lookups_equal_a_plain_scan_across_runs_and_compactions(tmp_path):
    rng = np.random.default_rng(1)
    index, stored = BandIndex(tmp_path), []
    for run in range(MAX_RUNS + 5):  # past MAX_RUNS: compacted on the way
        keys = rng.integers(0, 50, size=40).astype(np.uint64)  # few keys: many shared
        owners = owner_keys(run, rng.integers(1, 1000, size=40))
        _add(index, keys, owners, str(run))
        stored += zip(keys.tolist(), owners.tolist())
    queries = np.arange(60, dtype=np.uint64)

    first = index.first_owners(queries)
    positions, owners = index.matches(queries)

    for q in range(60):
        mine = sorted(o for k, o in stored if k == q)
        assert first[q] == (mine[0] if mine else NO_OWNER)
        assert sorted(owners[positions == q].tolist()) == mine
    assert len(index._manifest()["runs"]) <= MAX_RUNS
    assert index.tags() == {str(run) for run in range(MAX_RUNS + 5)}


def test_a_band_number_is_part_of_the_key():
    same_hash_two_bands = np.array([[7, 7]], dtype=np.int64)
    keys = band_keys(same_hash_two_bands)
    assert keys[0] != keys[1]
    assert (band_keys(np.array([[7, 8]], dtype=np.int64))[0] == keys[0])


def test_concurrent_writers_lose_no_keys(tmp_path):
    writers = 2 * MAX_RUNS  # enough to compact while others write

    def write(n):
        keys = np.arange(n * 100, n * 100 + 100, dtype=np.uint64)
        _add(BandIndex(tmp_path), keys, owner_keys(n + 1, np.arange(100)), f"w{n}")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    index = BandIndex(tmp_path)
    found = index.first_owners(np.arange(writers * 100, dtype=np.uint64))
    expected = np.concatenate([owner_keys(n + 1, np.arange(100)) for n in range(writers)])
    assert (found == expected).all()
    assert index.tags() == {f"w{n}" for n in range(writers)} and index.size() == writers * 100


@pytest.mark.parametrize("spread", ["few keys, long runs of each", "hashes over all 64 bits"])
def test_the_directory_search_equals_a_binary_search(tmp_path, spread):
    rng = np.random.default_rng(2)
    if spread.startswith("few"):
        keys, queries = rng.integers(0, 300, size=20 * 512).astype(np.uint64), np.arange(302, dtype=np.uint64)
    else:
        keys = np.repeat(rng.integers(0, 2**64, size=10 * 512, dtype=np.uint64), 2)
        queries = np.concatenate([keys[::7], rng.integers(0, 2**64, size=1000, dtype=np.uint64), np.array([0, 2**64 - 1], dtype=np.uint64)])
        keys[-1] = 2**64 - 1  # the largest key: its upper bound is the run's end
    keys, queries = np.sort(keys), np.sort(queries)
    index = BandIndex(tmp_path)
    _add(index, keys, np.arange(len(keys), dtype=np.uint64), "one")

    run = index._runs()[0]

    assert len(run.directory) > 2
    assert (run.lower_bound(queries) == np.searchsorted(keys, queries, side="left")).all()
    assert (run.upper_bound(queries) == np.searchsorted(keys, queries, side="right")).all()
