"""Snapshot pages for staff, withdrawal pages for partners; permissions beside them."""

from pathlib import Path

from django.contrib.messages import get_messages
from django.urls import reverse

from annotation.models import Record
from tests.conftest import make_user
from tests.training.withdraw_helpers import follow_up
from training.models import Snapshot, Withdrawal
from training.services.snapshot_build import snapshot_build
from training.services.snapshots import snapshot_create


def login(client, user):
    client.force_login(user)
    return client


def built(name="pages"):
    snapshot = snapshot_create(name=name, license="CC-BY-4.0", parameters={"languages": ["de", "fr"]}, enqueue=False)
    return snapshot_build(snapshot_id=snapshot.pk)


def test_staff_estimates_then_defines_a_snapshot(client, staff, corpus, django_capture_on_commit_callbacks):
    login(client, staff)
    form = {"name": "web", "languages": ["de", "fr"], "kinds": ["pretraining"], "license": "CC-BY-4.0", "seed": 1,
            "train": 0.9, "validation": 0.05, "test": 0.05, "drop_language_mismatch": "on", "reduce_near_duplicates": "on"}
    response = client.post(reverse("snapshot_new"), {**form, "estimate": "1"})
    assert response.status_code == 200 and "de" in response.context["estimate"]
    standing = corpus["de"].records.filter(near_duplicate_of__isnull=True).count()
    assert response.context["estimate"]["de"]["records"] == standing

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("snapshot_new"), {**form, "build": "1"})
    snapshot = Snapshot.objects.get(name="web")
    assert response.status_code == 302 and response.url == reverse("snapshot_detail", args=[snapshot.pk])
    assert len(callbacks) == 1  # the build is queued on commit
    assert snapshot.parameters["splits"] == {"train": 0.9, "validation": 0.05, "test": 0.05}

    snapshot_build(snapshot_id=snapshot.pk)
    page = client.get(reverse("snapshot_detail", args=[snapshot.pk]))
    assert page.status_code == 200 and b"web@1" in page.content and b"Alpha Archive" in page.content
    status = client.get(reverse("snapshot_status", args=[snapshot.pk])).json()
    assert status == {"id": snapshot.pk, "status": "ready", "status_display": "Ready", "progress": 100, "finished": True}
    card = client.get(reverse("snapshot_file", args=[snapshot.pk, "README.md"]))
    assert b"".join(card.streaming_content).startswith(b"---\nlanguage:")


def test_license_conflicts_are_listed_on_the_form(client, staff, ingested, partner_a, german):
    from tests.annotation.texts import documents

    nc = ingested([{"text": t} for t in documents(3, seed=3)], partner=partner_a, language=german, license="CC-BY-NC-4.0")
    login(client, staff)
    form = {"name": "web", "languages": ["de"], "kinds": ["pretraining"], "license": "CC-BY-4.0", "seed": 0,
            "train": 1, "validation": 0, "test": 0, "build": "1"}
    response = client.post(reverse("snapshot_new"), form)
    assert response.status_code == 400 and response.context["conflicts"][0]["submission_id"] == nc.pk
    assert not Snapshot.objects.exists()


def test_defining_and_comparing_snapshots_is_staff_only(client, member_a, corpus):
    first, second = built(), built()
    login(client, member_a)  # a partner whose data is in both: may see them, not define or compare them
    for url in (reverse("snapshot_new"), reverse("snapshot_compare", args=[second.pk, first.pk]),
                reverse("snapshot_withdrawals")):
        assert client.get(url).status_code == 404, url


def test_someone_without_data_in_a_snapshot_sees_none_of_it(client, corpus):
    outsider = make_user("otto")
    snapshot = built()
    login(client, outsider)
    for url in (reverse("snapshot_detail", args=[snapshot.pk]), reverse("snapshot_status", args=[snapshot.pk]),
                reverse("snapshot_file", args=[snapshot.pk, "manifest.json"]), reverse("snapshot_files", args=[snapshot.pk])):
        assert client.get(url).status_code == 404, url
    listing = client.get(reverse("snapshot_list"))
    assert listing.status_code == 200 and list(listing.context["snapshots"]) == []
    assert reverse("snapshot_new").encode() not in listing.content


def test_shard_download_stays_inside_the_snapshot(client, staff, corpus):
    snapshot = built()
    login(client, staff)
    shard = sorted(Path(snapshot.uri).glob("de/train-*.parquet"))[0]
    response = client.get(reverse("snapshot_file", args=[snapshot.pk, "de/" + shard.name]))
    assert response.status_code == 200 and b"".join(response.streaming_content) == shard.read_bytes()
    assert client.get(reverse("snapshot_file", args=[snapshot.pk, "../../secret_key"])).status_code == 404


def test_compare_page(client, staff, corpus):
    first, second = built(), built()
    login(client, staff)
    response = client.get(reverse("snapshot_compare", args=[second.pk, first.pk]))
    assert response.status_code == 200 and response.context["diff"]["totals"] == {"added": 0, "removed": 0}


def test_partner_withdraws_and_sees_which_snapshots_hold_it(client, member_a, member_b, staff, corpus):
    from training.models import BaseModel, TrainingRun

    snapshot = built()
    base = BaseModel.objects.create(name="tiny-base", source="/models/tiny")
    run = TrainingRun.objects.create(snapshot=snapshot, base_model=base, method="cpt")
    login(client, member_a)
    page = client.get(reverse("submission_detail", args=[corpus["de"].pk])).content.decode()
    assert reverse("submission_withdraw", args=[corpus["de"].pk]) in page  # the button on the submission page
    response = client.post(reverse("submission_withdraw", args=[corpus["de"].pk]), {"reason": "Rights ended."})
    assert response.status_code == 302 and response.url == reverse("withdrawals")
    assert Withdrawal.objects.get().records_withdrawn == 60
    assert b"data-counting" in client.get(reverse("withdrawals")).content  # the worker has not counted yet
    follow_up()
    page = client.get(reverse("withdrawals"))
    assert page.status_code == 200 and snapshot.label.encode() in page.content and b"data-counting" not in page.content
    assert page.content.count(b'id="withdraw-title"') == 1 and b"<form" not in page.content.split(b"</title>")[0]
    assert page.context["rows"][0][1]["runs"] == [run] and f"run {run.pk}".encode() in page.content
    login(client, staff)
    assert list(client.get(reverse("snapshot_detail", args=[snapshot.pk])).context["runs"]) == [run]
    login(client, member_a)

    # The form on the withdrawals page withdraws a single record.
    fr_record = Record.objects.filter(submission=corpus["fr"]).first()
    login(client, member_b)
    assert client.get(reverse("withdrawals")).context["submissions"][0] == corpus["fr"]
    response = client.post(reverse("withdrawals"), {"submission": corpus["fr"].pk, "line": fr_record.line})
    assert response.status_code == 302
    fr_record.refresh_from_db()
    assert fr_record.status == Record.Status.WITHDRAWN
    assert client.post(reverse("withdrawals"), {"submission": corpus["de"].pk}).status_code == 404

    # Another partner can neither withdraw nor see it.
    login(client, member_b)
    assert client.post(reverse("submission_withdraw", args=[corpus["de"].pk])).status_code == 404
    seen = client.get(reverse("withdrawals")).context["rows"]
    assert [w.submission_id for w, _ in seen] == [corpus["fr"].pk]
    # A line is the submission's own: one it does not have is named beside the field, and nothing changes.
    response = client.post(reverse("submission_withdraw", args=[corpus["fr"].pk]), {"line": "999"})
    assert response.status_code == 400 and not list(get_messages(response.wsgi_request))
    assert response.context["withdraw_form"].errors["line"] == ["Line 999 holds no record of this submission."]
    assert Withdrawal.objects.filter(submission=corpus["fr"]).count() == 1

    login(client, staff)
    staff_page = client.get(reverse("snapshot_withdrawals"))
    assert staff_page.status_code == 200 and snapshot.label.encode() in staff_page.content


def test_snapshot_list_queries_do_not_grow_with_snapshots(client, staff, corpus, django_assert_max_num_queries):
    for _ in range(3):
        built()
    login(client, staff)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("snapshot_list"))
    assert response.status_code == 200 and b"pages@3" in response.content


def test_the_snapshot_form_has_human_labels_marked_for_translation(client, staff, german):
    from django.utils.functional import Promise

    from training.web.forms import SnapshotForm

    for name, field in SnapshotForm().fields.items():
        # gettext_lazy proxies: translated when rendered, in the reader's language
        assert isinstance(field.label, Promise), name
        assert isinstance(field.help_text, Promise) and str(field.help_text), name
    page = login(client, staff).get(reverse("snapshot_new")).content.decode()
    for label in ("Kinds of data", "Random seed", "Training share", "Validation share", "Test share",
                  "Include records still in review", "Mixture (JSON)", "Reason to build despite licence conflicts"):
        assert f"{label}:</label>" in page, label
    for derived in ("Drop language mismatch", "Reduce near duplicates", "Include pending", "Override reason"):
        assert derived not in page, derived
    # languages are a grid of checkboxes under their own names, not a four-row multi-select
    assert 'class="check-grid"' in page and 'type="checkbox" name="languages" value="de"' in page
    assert "Deutsch (de)" in page and "<select name=\"languages\"" not in page
