"""What snapshots hold of withdrawn data is counted when the withdrawal happens and stored: pages read
the stored figures and no shard, so they render with the shard files gone."""

from pathlib import Path

import pytest
from django.urls import reverse

from annotation.models import Record
from training.models import Snapshot, Withdrawal
from training.services import lineage
from training.services.lineage import snapshot_withdrawn
from tests.training.withdraw_helpers import withdrawal_create_and_follow_up
from training.tasks import snapshot_build as snapshot_build_task

from .run_helpers import make_run
from .test_withdrawn_runs import build, published, uses_of

pytestmark = pytest.mark.django_db


def stored(snapshot) -> tuple:
    row = Snapshot.objects.get(pk=snapshot.pk)
    return row.withdrawn_records, row.withdrawn_rows, row.withdrawn_tokens, row.withdrawn_total_rows


def live(snapshot) -> tuple:
    held = snapshot_withdrawn(snapshot)
    return held.records, held.rows, held.tokens, held.total_rows


@pytest.fixture
def no_shards(monkeypatch):
    """Delete the shard files of every snapshot and fail any read of them."""

    def gone(snapshot):
        for shard in Path(snapshot.uri).rglob("*.parquet"):
            shard.unlink()

    def refused(*args, **kwargs):
        raise AssertionError("a page read a snapshot's shards")

    def apply(*snapshots):
        for snapshot in snapshots:
            gone(snapshot)
        monkeypatch.setattr(lineage, "_shard_columns", refused)

    return apply


def test_a_withdrawal_stores_what_each_snapshot_holding_it_holds(corpus, member_a, member_b):
    first, second = build(), build()
    record = Record.objects.filter(submission=corpus["fr"], near_duplicate_of__isnull=True).order_by("pk").first()

    single = withdrawal_create_and_follow_up(user=member_b, submission=corpus["fr"], record=record)
    assert stored(first) == stored(second) == live(first) and stored(first)[:3] == (1, 1, record.tokens)
    assert set(single.snapshots.all()) == {first, second}

    whole = withdrawal_create_and_follow_up(user=member_a, submission=corpus["de"])
    assert stored(first) == live(first) and stored(first)[0] > 50  # the French record and the German submission
    assert set(whole.snapshots.all()) == {first, second}
    later = build()  # built after both: holds none of it, and no withdrawal lists it
    assert stored(later) == (0, 0, 0, 0) and not Withdrawal.objects.filter(snapshots=later).exists()


def test_pages_show_the_stored_figures_without_reading_a_shard(client, corpus, staff, member_a, no_shards):
    snapshot = build()
    run = published(make_run(user=staff, snapshot=snapshot))
    withdrawal_create_and_follow_up(user=member_a, submission=corpus["de"], reason="Rights ended.")
    records, _, tokens, _ = live(snapshot)
    no_shards(snapshot)

    client.force_login(staff)
    page = client.get(reverse("snapshot_detail", args=[snapshot.pk])).content.decode()
    notice = page.split("data-withdrawn")[1].split("</div>")[0]
    assert f"{records} records" in notice and f"{tokens:,} tokens" in notice
    assert f"{records} withdrawn records" in client.get(reverse("run_detail", args=[run.pk])).content.decode()
    form = client.get(reverse("run_new")).content.decode()
    assert snapshot.label in form.split("data-withdrawn")[1].split("</div>")[0]
    assert "trained on withdrawn data" in client.get(reverse("leaderboard")).content.decode()
    assert snapshot.label in client.get(reverse("snapshot_withdrawals")).content.decode()

    client.force_login(member_a)
    uses = uses_of(client, corpus["de"])
    assert snapshot.label in uses.split("data-withdrawals")[1].split("</table>")[0] and "holds what was withdrawn" in uses
    assert snapshot.label in client.get(reverse("withdrawals")).content.decode()


def test_a_snapshot_building_while_data_is_withdrawn_is_counted_once_built(corpus, member_a, settings):
    snapshot = build()
    Snapshot.objects.filter(pk=snapshot.pk).update(status=Snapshot.Status.BUILDING)  # its records read already
    withdrawal = withdrawal_create_and_follow_up(user=member_a, submission=corpus["de"])
    assert not withdrawal.snapshots.exists()  # it was not ready yet

    Snapshot.objects.filter(pk=snapshot.pk).update(status=Snapshot.Status.READY)
    snapshot_build_task(snapshot.pk)  # the build's task, finishing
    assert stored(snapshot) == live(snapshot) and stored(snapshot)[0] > 50
    assert list(withdrawal.snapshots.all()) == [snapshot]
