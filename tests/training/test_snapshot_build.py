"""Building snapshots from ingested records: shards, card, manifest, splits, filters."""

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from annotation.models import Record
from annotation.text_selectors import record_text_read
from training.models import Snapshot, SnapshotSubmission
from training.services.snapshot_build import snapshot_build
from training.services.snapshots import snapshot_create
from training.snapshots.params import ParameterError, normalise
from training.snapshots.split import split_of


def build(name="corpus", license="CC-BY-4.0", **params):
    params.setdefault("languages", ["de", "fr"])
    snapshot = snapshot_create(name=name, license=license, parameters=params, enqueue=False)
    return snapshot_build(snapshot_id=snapshot.pk)


def clusters(submission):
    """Records left once near-duplicates are reduced, when every record passes: those that duplicate nothing."""
    return Record.objects.filter(submission=submission, near_duplicate_of__isnull=True).count()


def rows(snapshot, split=None):
    root = Path(snapshot.uri)
    files = sorted(root.glob(f"*/{split or '*'}-*.parquet"))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


def test_build_writes_shards_card_and_manifest_that_datasets_reads(corpus):
    from datasets import load_dataset

    snapshot = build(splits={"train": 0.8, "validation": 0.1, "test": 0.1}, seed=7)

    assert snapshot.status == Snapshot.Status.READY, snapshot.failure
    assert snapshot.label == "corpus@1" and snapshot.progress == 100
    root = Path(snapshot.uri)
    assert root == Path(snapshot.uri) and (root / "README.md").is_file()
    manifest_bytes = (root / "manifest.json").read_bytes()
    assert hashlib.sha256(manifest_bytes).hexdigest() == snapshot.manifest_sha256
    manifest = json.loads(manifest_bytes)
    for shard in manifest["shards"]:
        assert hashlib.sha256((root / shard["path"]).read_bytes()).hexdigest() == shard["sha256"]
    assert manifest["parameters"]["seed"] == 7

    total = {lang: sum(c["records"] for c in splits.values()) for lang, splits in snapshot.counts.items()}
    assert total == {"de": clusters(corpus["de"]), "fr": clusters(corpus["fr"])}

    loaded = load_dataset("parquet", data_dir=str(root))
    assert sum(len(loaded[split]) for split in loaded) == sum(total.values())
    written = {r["record_id"]: r for r in rows(snapshot)}
    for split in loaded:
        for row in loaded[split]:
            assert row == written[row["record_id"]]
    texts = {r.pk: record_text_read(r)["text"] for r in Record.objects.all()}
    assert all(texts[rid] == row["text"] for rid, row in written.items())

    readme = (root / "README.md").read_text()
    assert readme.startswith("---\nlanguage: [\"de\", \"fr\"]\nlicense: \"cc-by-4.0\"")
    header = yaml.safe_load(readme.split("---\n")[1])
    assert header["language"] == ["de", "fr"] and header["license"] == "cc-by-4.0"
    assert header["size_categories"] == ["n<1K"] and header["task_categories"] == ["text-generation"]
    assert header["configs"][0] == {"config_name": "de", "data_files": [
        {"split": s, "path": f"de/{s}-*.parquet"} for s in ("train", "validation", "test") if s in snapshot.counts["de"]]}
    assert "Alpha Archive" in readme and "Beta Bibliotheek" in readme


def test_split_is_by_content_hash_and_seed(corpus):
    fractions = {"train": 0.6, "validation": 0.2, "test": 0.2}
    snapshot = build(splits=fractions, seed=3)
    for split in ("train", "validation", "test"):
        for row in rows(snapshot, split):
            record = Record.objects.get(pk=row["record_id"])
            assert split_of(record.content_hash.hex, seed=3, fractions=fractions) == split
    assert len(rows(snapshot, "validation")) > 0 and len(rows(snapshot, "test")) > 0


def test_two_builds_with_the_same_parameters_are_byte_identical(corpus, monkeypatch):
    from training.snapshots import assemble

    monkeypatch.setattr(assemble, "PROGRESS_EVERY", 7)  # progress writes while the cursor streams
    first = build(seed=5, rows_per_shard=25, row_group_rows=10)
    second = build(seed=5, rows_per_shard=25, row_group_rows=10)
    assert second.version == 2
    one = sorted(p.relative_to(first.uri) for p in Path(first.uri).rglob("*.parquet"))
    two = sorted(p.relative_to(second.uri) for p in Path(second.uri).rglob("*.parquet"))
    assert one == two and len(one) > 3, "several shards per language expected"
    for path in one:
        assert (Path(first.uri) / path).read_bytes() == (Path(second.uri) / path).read_bytes()


def test_the_bytes_do_not_depend_on_how_the_stream_is_batched(corpus, monkeypatch):
    from training.snapshots import select

    whole = build(seed=5, rows_per_shard=25, row_group_rows=10)
    monkeypatch.setattr(select, "CHUNK", 7)  # batches smaller than a row group, ending mid-group
    batched = build(seed=5, rows_per_shard=25, row_group_rows=10)
    files = sorted(p.relative_to(whole.uri) for p in Path(whole.uri).rglob("*.parquet"))
    assert files == sorted(p.relative_to(batched.uri) for p in Path(batched.uri).rglob("*.parquet"))
    for path in files:
        assert (Path(whole.uri) / path).read_bytes() == (Path(batched.uri) / path).read_bytes()
    shards = [pq.ParquetFile(Path(whole.uri) / path).metadata for path in files]
    full = [[m.row_group(i).num_rows for i in range(m.num_row_groups)] for m in shards if m.num_rows == 25]
    assert full and all(groups == [10, 10, 5] for groups in full)  # a row group never spans two shards
    assert whole.counts == batched.counts


def test_lineage_lists_submissions_partners_and_counts(corpus, partner_a, partner_b):
    snapshot = build()
    lineage = {row.submission_id: row for row in SnapshotSubmission.objects.filter(snapshot=snapshot)}
    assert set(lineage) == {corpus["de"].pk, corpus["fr"].pk}
    assert lineage[corpus["de"].pk].partner == partner_a and lineage[corpus["de"].pk].records == clusters(corpus["de"])
    assert lineage[corpus["fr"].pk].partner == partner_b and lineage[corpus["fr"].pk].records == clusters(corpus["fr"])
    standing = Record.objects.filter(submission=corpus["de"], near_duplicate_of__isnull=True)
    assert lineage[corpus["de"].pk].tokens == sum(standing.values_list("tokens", flat=True))


def test_a_rejected_original_leaves_one_near_duplicate_standing(corpus):
    original = Record.objects.filter(submission=corpus["fr"], near_duplicates__isnull=False).order_by("id").first()
    duplicates = list(original.near_duplicates.order_by("id").values_list("pk", flat=True))
    Record.objects.filter(pk=original.pk).update(status=Record.Status.REJECTED)
    ids = {r["record_id"] for r in rows(build(languages=["fr"]))}
    assert original.pk not in ids and duplicates[0] in ids and not set(duplicates[1:]) & ids


def test_only_accepted_by_default_and_filters_apply(corpus):
    # Records in no cluster: leaving them out changes no other record's standing
    # (which German texts MinHash pairs by chance depends on the band scheme).
    alone = Record.objects.filter(near_duplicate_of__isnull=True, near_duplicates__isnull=True).order_by("id")
    pending = list(alone.filter(submission=corpus["de"])[:10].values_list("pk", flat=True))
    Record.objects.filter(pk__in=pending).update(status=Record.Status.PENDING)
    mismatched = alone.filter(submission=corpus["fr"]).first()
    Record.objects.filter(pk=mismatched.pk).update(language_mismatch=True)
    snapshot = build()
    ids = {r["record_id"] for r in rows(snapshot)}
    assert not ids & set(pending) and mismatched.pk not in ids
    assert len(ids) == clusters(corpus["de"]) - 10 + clusters(corpus["fr"]) - 1

    wider = build(statuses=["accepted", "pending"], drop_language_mismatch=False, languages=["de"])
    assert len(rows(wider)) == clusters(corpus["de"])


def test_quality_threshold_filters(corpus):
    words = sorted(Record.objects.filter(submission=corpus["de"]).values_list("quality_words", flat=True))
    cut = words[len(words) // 2]
    snapshot = build(languages=["de"], min_quality={"words": cut})
    expected = Record.objects.filter(submission=corpus["de"], quality_words__gte=cut).count()
    assert len(rows(snapshot)) == expected < 60


def test_quality_bounds_name_only_the_signals_kept_per_record():
    # The others are in the chunk files only: a bound on one would filter nothing in SQL.
    with pytest.raises(ParameterError, match="min_quality filters on these signals only"):
        normalise({"languages": ["de"], "min_quality": {"chars": 500}})
    assert normalise({"languages": ["de"], "max_quality": {"digit_ratio": 0.2}})["max_quality"] == {"digit_ratio": 0.2}


def test_card_reports_tokenizer_fertility(corpus, tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    path = tmp_path / "tokenizer.json"
    tokenizer.save(str(path))

    snapshot = build(tokenizer=str(path))
    assert snapshot.fertility == {"de": 1.0, "fr": 1.0}
    assert "| de | 1.0000 |" in (Path(snapshot.uri) / "README.md").read_text()


def test_training_job_reads_the_snapshot(corpus):
    """The job code's own reader (no Django) finds the shards and verifies the manifest."""
    from training.jobs.data import iter_rows, snapshot_files, verify_snapshot

    snapshot = build(splits={"train": 1.0})
    assert verify_snapshot(snapshot.uri, snapshot.manifest_sha256) == snapshot.manifest_sha256
    texts = [row["text"] for row in iter_rows(snapshot_files(snapshot.uri, "train"))]
    assert len(texts) == sum(c["records"] for splits in snapshot.counts.values() for c in splits.values())
