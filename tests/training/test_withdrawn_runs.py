"""Snapshots and runs holding withdrawn data: marked where they show, refused for new runs without a reason."""

import json
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotation.models import Record
from tests.web.conftest import add_record, make_submission
from training.models import EvaluationResult, EvaluationRun, EvaluationSuite, TrainingRun
from training.run_selectors import runs_withdrawn
from training.services.lineage import snapshot_withdrawn, snapshot_withdrawn_count
from training.services.snapshot_build import snapshot_build
from training.services.snapshots import snapshot_create
from tests.training.withdraw_helpers import withdrawal_create_and_follow_up
from training.services.withdrawals import withdrawal_create

from .run_helpers import make_base_model, make_run

pytestmark = pytest.mark.django_db


def build(name="held"):
    snapshot = snapshot_create(name=name, license="CC-BY-4.0", parameters={"languages": ["de", "fr"]}, enqueue=False)
    return snapshot_build(snapshot_id=snapshot.pk)


def published(run):
    TrainingRun.objects.filter(pk=run.pk).update(published=True, status="succeeded")
    suite, _ = EvaluationSuite.objects.get_or_create(name="arc-de", path="/suites/arc-de")
    evaluation = EvaluationRun.objects.create(training_run=run, model_path="/m", status="succeeded")
    EvaluationResult.objects.create(evaluation=evaluation, suite=suite, provenance=suite.provenance,
                                    language="de", task="arc", n=20, acc=0.5)  # fmt: skip
    run.refresh_from_db()
    return run


@pytest.fixture
def held(corpus, member_a, staff):
    """A snapshot of the corpus, a published run on it, then Alpha withdraws its German submission."""
    snapshot = build()
    run = published(make_run(user=staff, snapshot=snapshot))
    withdrawal_create_and_follow_up(user=member_a, submission=corpus["de"], reason="Rights ended.")
    return snapshot, run


def withdrawn_records(snapshot) -> str:
    """How many withdrawn records the pages should name: the German submission's, less any near duplicate the build left out."""
    count = snapshot_withdrawn(snapshot).records
    assert 50 <= count <= 60  # the corpus's 60 German records, near duplicates reduced
    return f"{count} withdrawn records"


def test_a_snapshot_counts_the_withdrawn_records_it_holds(corpus, member_b):
    snapshot = build()
    assert not snapshot_withdrawn(snapshot)
    fr_record = Record.objects.filter(submission=corpus["fr"], near_duplicate_of__isnull=True).order_by("pk").first()
    withdrawal_create_and_follow_up(user=member_b, submission=corpus["fr"], record=fr_record)

    held = snapshot_withdrawn(snapshot)
    assert (held.records, held.rows, held.tokens) == (1, 1, fr_record.tokens)
    assert held.total_rows == snapshot.totals()["records"] and 0 < held.percent < 100


def test_a_snapshot_counts_withdrawn_edits_and_the_edits_of_withdrawn_records(corpus, staff, member_b, edit):
    alone = Record.objects.filter(submission=corpus["fr"], near_duplicate_of__isnull=True, near_duplicates__isnull=True)
    record, other = alone.order_by("id")[:2]
    fixes = [edit(record, {"text": "Une correction du premier."}), edit(other, {"text": "Une correction du second."})]
    Record.objects.filter(pk__in=[f.pk for f in fixes]).update(status=Record.Status.ACCEPTED)
    snapshot = build()
    assert not snapshot_withdrawn(snapshot)

    # The edit itself withdrawn, by whoever wrote it: credited to the original's submission in the shards.
    withdrawal_create_and_follow_up(user=staff, submission=fixes[0].submission, record=fixes[0])
    assert snapshot_withdrawn(snapshot).records == 1
    # The original withdrawn: its accepted edit, which the snapshot holds in its place, goes along.
    withdrawal_create_and_follow_up(user=member_b, submission=corpus["fr"], record=other)
    assert snapshot_withdrawn(snapshot).records == 2


def test_the_snapshot_page_says_how_much_withdrawn_data_it_holds(client, held, corpus, staff):
    snapshot, _ = held
    client.force_login(staff)
    page = client.get(reverse("snapshot_detail", args=[snapshot.pk])).content.decode()
    notice = page.split("data-withdrawn")[1].split("</div>")[0]
    held_tokens = snapshot_withdrawn(snapshot).tokens
    assert held_tokens <= corpus["de"].records.aggregate(n=Sum("tokens"))["n"]
    assert withdrawn_records(snapshot).replace(" withdrawn", "") in notice and f"{held_tokens:,} tokens" in notice


def test_a_snapshot_without_withdrawn_data_has_no_mark(client, corpus, staff):
    snapshot = build()
    client.force_login(staff)
    assert "data-withdrawn" not in client.get(reverse("snapshot_detail", args=[snapshot.pk])).content.decode()


def test_a_run_on_withdrawn_data_needs_a_reason_which_it_records(held, staff):
    snapshot, _ = held
    with pytest.raises(ValidationError) as refused:
        make_run(user=staff, snapshot=snapshot)
    assert snapshot.label in refused.value.messages[0] and withdrawn_records(snapshot) in refused.value.messages[0]

    run = make_run(user=staff, snapshot=snapshot, withdrawn_reason="  Reproducing a published result.  ")
    assert (run.withdrawn_override_reason, run.withdrawn_override_by) == ("Reproducing a published result.", staff)


def test_a_run_waits_for_a_withdrawal_still_being_counted_or_gives_a_reason(corpus, member_a, staff):
    """Between the withdrawal's request and its counting the snapshot's figures are behind: no silent run."""
    snapshot = build()
    snapshot_withdrawn_count(snapshot_id=snapshot.pk)  # counted as a ready snapshot is: nothing withdrawn yet
    snapshot.refresh_from_db()
    withdrawal_create(user=member_a, submission=corpus["de"], reason="Rights ended.")  # the worker has not counted yet
    with pytest.raises(ValidationError) as refused:
        make_run(user=staff, snapshot=snapshot)
    assert "still being counted" in refused.value.messages[0] and snapshot.label in refused.value.messages[0]
    run = make_run(user=staff, snapshot=snapshot, withdrawn_reason="Counted by hand.")
    assert run.withdrawn_override_reason == "Counted by hand."


def test_a_withdrawal_pending_elsewhere_does_not_hold_a_run_back(corpus, member_a, staff):
    """Only a withdrawal that may reach the snapshot (a submission of its lineage) waits for its counting."""
    snapshot = build()
    later = make_submission(partner=corpus["de"].partner, uploader=member_a, language=corpus["de"].language)
    withdrawal_create(user=member_a, submission=later, reason="Never in a snapshot.")  # not counted yet
    assert make_run(user=staff, snapshot=snapshot).withdrawn_override_reason == ""


def test_a_reason_is_not_recorded_for_a_clean_snapshot(corpus, staff):
    run = make_run(user=staff, snapshot=build(), withdrawn_reason="Just in case.")
    assert run.withdrawn_override_reason == "" and run.withdrawn_override_by is None


def test_the_run_form_warns_then_refuses_without_a_reason(client, held, staff):
    snapshot, _ = held
    client.force_login(staff)
    form = client.get(reverse("run_new")).content.decode()
    assert "data-withdrawn" in form and snapshot.label in form.split("data-withdrawn")[1].split("</div>")[0]

    fields = {"snapshot": snapshot.pk, "base_model": make_base_model().pk, "method": "cpt", "finetuning": "full",
              "learning_rate": 1e-3, "max_steps": 2}  # fmt: skip
    response = client.post(reverse("run_new"), fields)
    assert response.status_code == 400 and withdrawn_records(snapshot) in response.content.decode()
    response = client.post(reverse("run_new"), {**fields, "withdrawn_reason": "Audit of the old model."})
    run = TrainingRun.objects.latest("pk")
    assert response.status_code == 302 and run.withdrawn_override_reason == "Audit of the old model."
    page = client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert "Audit of the old model." in page and f"({staff.username})" in page


def test_the_api_refuses_without_a_reason(client, held, staff):
    snapshot, _ = held
    client.force_login(staff)
    body = {"snapshot": snapshot.pk, "base_model": make_base_model().name, "method": "cpt",
            "hyperparameters": {"max_steps": 2}}  # fmt: skip
    response = client.post("/api/runs/", body, content_type="application/json")
    assert response.status_code == 400 and withdrawn_records(snapshot) in response.json()["non_field_errors"][0]
    response = client.post("/api/runs/", {**body, "withdrawn_reason": "Audit."}, content_type="application/json")
    assert response.status_code == 201 and response.json()["withdrawn_override_reason"] == "Audit."


def test_the_train_command_refuses_without_a_reason(held):
    snapshot, _ = held
    make_base_model()
    arguments = ["train", "--snapshot", snapshot.label, "--base-model", "tiny", "--method", "cpt", "--max-steps", "2"]
    with pytest.raises(CommandError, match=withdrawn_records(snapshot)):
        call_command(*arguments, stdout=StringIO())
    out = StringIO()
    call_command(*arguments, "--withdrawn-reason", "Audit.", stdout=out)
    run = TrainingRun.objects.get(pk=json.loads(out.getvalue())["run"])
    assert (run.withdrawn_override_reason, run.withdrawn_override_by) == ("Audit.", None)


def test_a_published_run_on_withdrawn_data_is_marked_publicly(client, held):
    snapshot, run = held
    page = client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert 'data-withdrawn="published"' in page and withdrawn_records(snapshot) in page
    board = client.get(reverse("leaderboard")).content.decode()
    assert "badge-withdrawn" in board and "trained on withdrawn data" in board


def test_a_published_run_on_clean_data_has_no_mark(client, corpus, staff):
    run = published(make_run(user=staff, snapshot=build()))
    assert "data-withdrawn" not in client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert "badge-withdrawn" not in client.get(reverse("leaderboard")).content.decode()


def test_a_retrained_run_loses_the_public_mark(client, held, staff):
    snapshot, run = held
    again = make_run(user=staff, snapshot=build(snapshot.name))
    assert runs_withdrawn([run])[run.pk].state == "published"  # not succeeded yet
    TrainingRun.objects.filter(pk=again.pk).update(status="succeeded")

    state = runs_withdrawn([run])[run.pk]
    assert state.state == "retrained" and state.retrained_by == again and not state.marked
    page = client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert 'data-withdrawn="retrained"' in page and str(again) in page
    assert "badge-withdrawn" not in client.get(reverse("leaderboard")).content.decode()


def test_a_later_version_that_holds_withdrawn_data_too_does_not_retrain(held, corpus, staff, member_b):
    snapshot, run = held
    again = make_run(user=staff, snapshot=build(snapshot.name))
    TrainingRun.objects.filter(pk=again.pk).update(status="succeeded")
    assert runs_withdrawn([run])[run.pk].state == "retrained"

    # Beta withdraws a French record that the later version holds: it is no retraining now.
    record = Record.objects.filter(submission=corpus["fr"], near_duplicate_of__isnull=True).order_by("pk").first()
    withdrawal_create_and_follow_up(user=member_b, submission=corpus["fr"], record=record)
    state = runs_withdrawn([run])[run.pk]
    assert state.retrained_by is None and state.state == "published"


def test_the_leaderboard_asks_once_for_retrainings_however_many_runs_are_marked(client, held, staff):
    snapshot, run = held
    retrained = make_run(user=staff, snapshot=build(snapshot.name))
    TrainingRun.objects.filter(pk=retrained.pk).update(status="succeeded")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            board = client.get(reverse("leaderboard")).content.decode()
        # Every run listed, none marked: each was retrained on the clean version.
        assert all(f">{run}</a>" in board for run in TrainingRun.objects.filter(published=True))
        assert "badge-withdrawn" not in board
        return len(captured)

    one = queries()
    for _ in range(3):
        published(make_run(user=staff, snapshot=snapshot, withdrawn_reason="Reproducing the first."))
    assert queries() == one


def test_staff_unpublish_a_run_once_they_confirm(client, held, staff, member_a):
    _, run = held
    client.force_login(member_a)
    assert client.post(reverse("run_publish", args=[run.pk]), {"action": "unpublish", "confirm": "1"}).status_code == 403
    client.force_login(staff)
    assert "data-unpublish" in client.get(reverse("run_detail", args=[run.pk])).content.decode()

    client.post(reverse("run_publish", args=[run.pk]), {"action": "unpublish"})
    run.refresh_from_db()
    assert run.published  # no confirmation, nothing changed
    client.post(reverse("run_publish", args=[run.pk]), {"action": "unpublish", "confirm": "1"})
    run.refresh_from_db()
    assert not run.published and runs_withdrawn([run])[run.pk].state == "unpublished"
    client.logout()
    assert client.get(reverse("run_detail", args=[run.pk])).status_code == 404
    assert "badge-withdrawn" not in client.get(reverse("leaderboard")).content.decode()


def uses_of(client, submission):
    page = client.get(reverse("submission_detail", args=[submission.pk])).content.decode()
    return page.split("data-uses")[1].split("</section>")[0] if "data-uses" in page else ""


def test_the_partner_sees_where_its_withdrawn_data_went_and_what_was_done(client, held, corpus, member_a, staff):
    snapshot, run = held
    client.force_login(member_a)
    uses = uses_of(client, corpus["de"])
    assert snapshot.label in uses and "holds what was withdrawn" in uses
    done = uses.split("data-withdrawals")[1].split("</table>")[0]
    assert "<time" in done and "the whole submission" in done and ">60<" in done and snapshot.label in done
    assert f'data-run="{run.pk}" data-state="published"' in uses and "Still published, marked" in uses

    private = make_run(user=staff, snapshot=snapshot, withdrawn_reason="Audit.")
    uses = uses_of(client, corpus["de"])
    assert f'data-run="{private.pk}" data-state="unpublished"' in uses
    assert reverse("run_detail", args=[private.pk]) not in uses  # a page the partner may not open

    again = make_run(user=staff, snapshot=build(snapshot.name))
    TrainingRun.objects.filter(pk=again.pk).update(status="succeeded")
    uses = uses_of(client, corpus["de"])
    assert f'data-run="{run.pk}" data-state="retrained"' in uses and f"Retrained without it: {again}" in uses
    # The new version does not hold the withdrawn submission at all.
    assert f'data-run="{again.pk}"' not in uses


def test_a_partner_without_withdrawals_sees_its_snapshots_and_models(client, held, corpus, member_b):
    snapshot, run = held
    client.force_login(member_b)
    uses = uses_of(client, corpus["fr"])
    assert snapshot.label in uses and "holds what was withdrawn" not in uses and "data-withdrawals" not in uses
    assert f'data-run="{run.pk}" data-state="public"' in uses


def test_a_withdrawn_line_is_listed_with_the_snapshots_holding_it(client, held, corpus, member_b):
    snapshot, run = held
    record = Record.objects.filter(submission=corpus["fr"], near_duplicate_of__isnull=True).order_by("pk").first()
    withdrawal_create_and_follow_up(user=member_b, submission=corpus["fr"], record=record)
    client.force_login(member_b)
    uses = uses_of(client, corpus["fr"])
    done = uses.split("data-withdrawals")[1].split("</table>")[0]
    assert f"line {record.shown_line}<" in done and snapshot.label in done
    assert f'data-run="{run.pk}" data-state="published"' in uses


def test_a_submission_in_no_snapshot_shows_no_such_section(client, corpus, member_a):
    client.force_login(member_a)
    assert uses_of(client, corpus["de"]) == ""


def test_the_admin_passes_the_reason_and_records_who_gave_it(client, held, staff):
    snapshot, _ = held
    client.force_login(staff)
    response = client.post(reverse("admin:training_trainingrun_add"), {
        "snapshot": snapshot.pk, "base_model": make_base_model().pk, "method": "cpt", "finetuning": "full",
        "hyperparameters": json.dumps({"max_steps": 2}), "max_attempts": 3, "withdrawn_override_reason": "Audit.",
    })  # fmt: skip
    assert response.status_code == 302
    run = TrainingRun.objects.latest("pk")
    assert (run.withdrawn_override_reason, run.withdrawn_override_by) == ("Audit.", staff)


def test_the_run_form_costs_the_same_queries_however_many_clean_snapshots(client, corpus, staff,
                                                                          django_assert_max_num_queries):
    for _ in range(3):
        build("clean")
    client.force_login(staff)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("run_new"))
    assert response.status_code == 200 and response.context["withdrawn"] == []


def test_the_leaderboard_reads_no_shards_of_clean_snapshots(client, corpus, staff, member_b,
                                                           django_assert_max_num_queries):
    for _ in range(3):
        published(make_run(user=staff, snapshot=build("clean")))
    # A withdrawn record of a submission these snapshots do not hold.
    other = make_submission(partner=corpus["fr"].partner, uploader=member_b, language=corpus["fr"].language)
    withdrawal_create_and_follow_up(user=member_b, submission=other, record=add_record(other, 1, "Une ligne."))
    with django_assert_max_num_queries(6):
        response = client.get(reverse("leaderboard"))
    assert len(response.context["rows"]) == 3 and not any(withdrawn for _, withdrawn, _ in response.context["rows"])
