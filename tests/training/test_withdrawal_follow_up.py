"""A withdrawal's text removal and counting run in the worker, queued durably with the commit: the request
reads no shard and no chunk file, pages say "Counting…" until the task is done, the sweeper queues again
what was never sent or never finished."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from annotation.models import Record
from annotation.services import record_text
from occiportal import broker
from training.models import Snapshot, Withdrawal
from training.services import lineage, withdrawals
from training.services.withdrawals import FOLLOW_UP_SECONDS, FOLLOW_UP_TASK, withdrawals_follow_up_sweep
from training.tasks import runs_sweep, withdrawal_follow_up

from .test_withdrawn_runs import build
from .withdraw_helpers import follow_up

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    """The messages sent to the broker, instead of sending them."""
    messages = []
    fake = SimpleNamespace(send_task=lambda name, **kwargs: messages.append((name, kwargs["args"])))
    monkeypatch.setattr(broker, "current_app", fake)
    return messages


@pytest.fixture
def no_reads(monkeypatch):
    """Fail any read of a snapshot's shards or a rewrite of chunk files."""

    def refused(*args, **kwargs):
        raise AssertionError("the request read shards or chunk files")

    for module, name in [(withdrawals, "snapshot_withdrawn_count"), (withdrawals, "snapshot_holds_any"),
                         (withdrawals, "record_files_prune"), (lineage, "_shard_columns"),
                         (record_text, "_chunk_prune")]:  # fmt: skip
        monkeypatch.setattr(module, name, refused)
    return monkeypatch


def test_the_request_reads_no_shard_and_queues_the_follow_up_on_commit(
    client, corpus, member_a, no_reads, sent, django_capture_on_commit_callbacks
):
    build()
    client.force_login(member_a)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(reverse("submission_withdraw", args=[corpus["de"].pk]), {"reason": "Rights ended."})
    assert response.status_code == 302 and len(callbacks) >= 1
    withdrawal = Withdrawal.objects.get()
    assert sent == [(FOLLOW_UP_TASK, [[withdrawal.pk]])]
    # The broker took it: the mark is gone; the work is still to do.
    assert withdrawal.follow_up_unsent_since is None and withdrawal.follow_up_asked_at is not None
    assert withdrawal.text_pruned_at is None and withdrawal.snapshots_found_at is None


def test_lines_withdrawn_in_one_request_are_one_follow_up(client, corpus, member_b, no_reads, sent,
                                                          django_capture_on_commit_callbacks):  # fmt: skip
    lines = list(Record.objects.filter(submission=corpus["fr"]).order_by("line").values_list("line", flat=True)[:3])
    client.force_login(member_b)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/submissions/{corpus['fr'].pk}/withdraw/", {"lines": lines},
                               content_type="application/json")  # fmt: skip
    assert response.status_code == 201
    body = response.json()["withdrawals"]
    assert [(w["text_removed_at"], w["snapshots_counted_at"]) for w in body] == [(None, None)] * 3
    assert sent == [(FOLLOW_UP_TASK, [[w["id"] for w in body]])]


def test_a_broker_away_leaves_the_mark_for_the_sweeper(corpus, member_a, monkeypatch, sent,
                                                       django_capture_on_commit_callbacks):  # fmt: skip
    def away(name, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(broker, "current_app", SimpleNamespace(send_task=away))
    with django_capture_on_commit_callbacks(execute=True):
        withdrawal = withdrawals.withdrawal_create(user=member_a, submission=corpus["de"])
    withdrawal.refresh_from_db()
    assert withdrawal.follow_up_unsent_since is not None

    monkeypatch.setattr(broker, "current_app", SimpleNamespace(send_task=lambda name, **kwargs: sent.append((name, kwargs["args"]))))
    assert withdrawals_follow_up_sweep() == 0  # within the grace: the send right after the commit may be under way
    later = timezone.now() + timedelta(seconds=settings.UNSENT_GRACE_SECONDS + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert withdrawals_follow_up_sweep(now=later) == 1
    assert sent == [(FOLLOW_UP_TASK, [[withdrawal.pk]])]
    withdrawal.refresh_from_db()
    assert withdrawal.follow_up_unsent_since is None and withdrawal.follow_up_asked_at == later


def test_the_sweeper_queues_again_a_follow_up_that_never_finished(corpus, member_a, sent,
                                                                  django_capture_on_commit_callbacks):  # fmt: skip
    withdrawal = withdrawals.withdrawal_create(user=member_a, submission=corpus["de"])
    asked = timezone.now()
    Withdrawal.objects.filter(pk=withdrawal.pk).update(follow_up_unsent_since=None, follow_up_asked_at=asked)
    limit = timedelta(seconds=FOLLOW_UP_SECONDS + settings.UNSENT_GRACE_SECONDS)

    assert withdrawals_follow_up_sweep(now=asked + limit - timedelta(seconds=5)) == 0  # it may still be running
    with django_capture_on_commit_callbacks(execute=True):
        assert withdrawals_follow_up_sweep(now=asked + limit + timedelta(seconds=5)) == 1  # its worker died
    assert sent == [(FOLLOW_UP_TASK, [[withdrawal.pk]])]

    follow_up()  # done: nothing to queue, however late
    assert withdrawals_follow_up_sweep(now=asked + 10 * limit) == 0


def test_the_training_sweeper_runs_it_and_a_withdrawal_from_before_is_queued_once(corpus, member_a, sent,
                                                                                  django_capture_on_commit_callbacks):  # fmt: skip
    withdrawal = withdrawals.withdrawal_create(user=member_a, submission=corpus["de"])
    # Withdrawn before the follow-up moved to the worker: never queued, never marked.
    Withdrawal.objects.filter(pk=withdrawal.pk).update(follow_up_unsent_since=None, follow_up_asked_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        runs_sweep()
    assert (FOLLOW_UP_TASK, [[withdrawal.pk]]) in sent
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        runs_sweep()
    assert sent == []  # queued a moment ago: it has its time limit to finish


def test_the_task_prunes_then_counts_and_a_second_delivery_reads_nothing(corpus, member_a, monkeypatch):
    first, second = build(), build()
    withdrawal = withdrawals.withdrawal_create(user=member_a, submission=corpus["de"])
    assert Snapshot.objects.get(pk=first.pk).withdrawn_records == 0  # nothing counted in the request

    withdrawal_follow_up([withdrawal.pk])

    withdrawal.refresh_from_db()
    assert withdrawal.text_pruned_at and withdrawal.snapshots_found_at
    assert not corpus["de"].chunks.exclude(records_file="").exists()  # the text is gone from the files
    assert set(withdrawal.snapshots.all()) == {first, second}
    held = lineage.snapshot_withdrawn(first)
    assert Snapshot.objects.get(pk=first.pk).withdrawn_records == held.records > 50

    def refused(*args, **kwargs):
        raise AssertionError("done already")

    monkeypatch.setattr(withdrawals, "snapshot_withdrawn_count", refused)
    monkeypatch.setattr(withdrawals, "record_files_prune", refused)
    withdrawal_follow_up([withdrawal.pk])  # redelivered: each step is marked done


def test_pages_say_counting_until_the_task_is_done_then_show_the_figures(client, corpus, member_a, staff, no_reads):
    no_reads.undo()
    snapshot = build()
    no_reads.setattr(withdrawals, "snapshot_withdrawn_count", lambda **kwargs: pytest.fail("a page counted"))
    no_reads.setattr(withdrawals, "snapshot_holds_any", lambda *args, **kwargs: pytest.fail("a page read shards"))
    withdrawals.withdrawal_create(user=member_a, submission=corpus["de"])

    client.force_login(member_a)
    mine = client.get(reverse("withdrawals")).content.decode()
    assert "data-counting" in mine and "Counting…" in mine and "Text removal pending" in mine
    uses = client.get(reverse("submission_detail", args=[corpus["de"].pk])).content.decode()
    assert "data-counting" in uses and "Text removal pending" in uses
    client.force_login(staff)
    page = client.get(reverse("snapshot_detail", args=[snapshot.pk])).content.decode()
    assert "data-withdrawn-counting" in page and "Counting…" in page
    client.force_login(member_a)
    client.cookies.load({settings.LANGUAGE_COOKIE_NAME: "de"})
    assert "Wird gezählt…" in client.get(reverse("withdrawals")).content.decode()
    client.cookies.load({settings.LANGUAGE_COOKIE_NAME: "en"})

    no_reads.undo()
    follow_up()

    mine = client.get(reverse("withdrawals")).content.decode()
    assert "data-counting" not in mine and "Text removal pending" not in mine and snapshot.label in mine
    uses = client.get(reverse("submission_detail", args=[corpus["de"].pk])).content.decode()
    assert "data-counting" not in uses and snapshot.label in uses
    client.force_login(staff)
    page = client.get(reverse("snapshot_detail", args=[snapshot.pk])).content.decode()
    records = Snapshot.objects.get(pk=snapshot.pk).withdrawn_records
    assert "data-withdrawn-counting" not in page and records > 50
    assert f"{records} records" in page.split("data-withdrawn")[1]
