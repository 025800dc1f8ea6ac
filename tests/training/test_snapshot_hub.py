"""Publishing to the Hub: huggingface_hub's real HTTP calls against the stand-in server in hub_server.py.

The push itself (``snapshot_push_to_hub``) first, then the request, the
worker's task and what staff see: the task runs eagerly where it is
enqueued (``eager``), and once on a real worker of the default queue.
"""

import fnmatch
import hashlib
import json
import re
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from celery.exceptions import SoftTimeLimitExceeded
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from tests.conftest import wait_for
from tests.training.hub_server import TOKEN, HubTestServer
from training.models import Snapshot
from training.services import hub as hub_service
from training.services.hub import HubPush, HubPushError, snapshot_hub_push_request, snapshot_push_to_hub
from training.services.snapshot_build import snapshot_build
from training.services.snapshots import snapshot_create
from training.services.snapshot_files import _listing
from training.tasks import snapshot_hub_push

REPO = "occiportal/corpus"
# huggingface_hub's own call (an upload as ``data=``), not ours.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


@pytest.fixture
def hub(monkeypatch):
    import huggingface_hub.constants

    # With hf_xet installed, huggingface_hub sends blobs to Xet storage; the
    # stand-in speaks the Hub's LFS "basic" transfer, the path it takes without.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)
    with HubTestServer() as server:
        yield server


@pytest.fixture
def portal_hub(hub, settings):
    """The portal's settings pointing at the stand-in Hub."""
    settings.SNAPSHOT_HUB_ENDPOINT, settings.SNAPSHOT_HUB_TOKEN, settings.SNAPSHOT_HUB_NAMESPACE = hub.url, TOKEN, "occiportal"
    return hub


@pytest.fixture
def eager(monkeypatch, portal_hub):
    """Tasks run where they are enqueued, once the request's transaction commits (services send them by name)."""
    from occiportal import broker
    from occiportal.celery import app

    def run_here(name, args, kwargs=None, queue=None):
        app.tasks[name].apply(args=args, kwargs=kwargs, throw=True)

    monkeypatch.setattr(broker, "current_app", SimpleNamespace(send_task=run_here))
    return portal_hub


def built(languages=("de", "fr")):
    snapshot = snapshot_create(name="corpus", license="CC-BY-4.0", parameters={"languages": list(languages)}, enqueue=False)
    return snapshot_build(snapshot_id=snapshot.pk)


def push(snapshot, hub, **kwargs):
    return snapshot_push_to_hub(snapshot=snapshot, repo_id=REPO, token=TOKEN, endpoint=hub.url, **kwargs)


def shards_of(snapshot) -> list[dict]:
    return json.loads((Path(snapshot.uri) / "manifest.json").read_bytes())["shards"]


def endpoint_shapes(hub) -> set[tuple[str, str]]:
    return {(method, re.sub(r"[0-9a-f]{40,64}", "<oid>", path)) for method, path in hub.calls()}


def test_push_creates_a_private_repo_holding_every_file_of_the_manifest(hub, corpus):
    snapshot = built()
    pushed = push(snapshot, hub)

    repo = hub.repos[REPO]
    assert hub.sent("POST", "/api/repos/create") == [{"name": "corpus", "organization": "occiportal", "type": "dataset",
                                                      "visibility": "private"}]
    assert repo.private
    root, shards = Path(snapshot.uri), shards_of(snapshot)
    for shard in shards:
        data = hub.file_bytes(REPO, shard["path"])
        assert data == (root / shard["path"]).read_bytes() and hashlib.sha256(data).hexdigest() == shard["sha256"]
        assert repo.files[shard["path"]] == ("lfs", shard["sha256"])  # through LFS, addressed by its sha256
    assert hub.file_bytes(REPO, "README.md") == (root / "README.md").read_bytes()
    assert hashlib.sha256(hub.file_bytes(REPO, "manifest.json")).hexdigest() == snapshot.manifest_sha256
    assert set(repo.files) == {".gitattributes", "README.md", "manifest.json", *(s["path"] for s in shards)}

    # One commit for the version, tagged, and reported with the repo's URL.
    assert [c["summary"] for c in repo.commits] == ["initial commit", f"corpus@1 (manifest sha256 {snapshot.manifest_sha256})"]
    assert repo.tags == {"v1": repo.head}
    assert pushed == HubPush(repo_url=f"{hub.url}/datasets/{REPO}", commit_url=f"{hub.url}/datasets/{REPO}/commit/{repo.head}",
                             commit_oid=repo.head, tag="v1")

    # The card's configs find the shards where the Hub keeps them.
    header = yaml.safe_load(hub.file_bytes(REPO, "README.md").decode().split("---\n")[1])
    for config in header["configs"]:
        for data_files in config["data_files"]:
            assert fnmatch.filter(repo.files, data_files["path"]), data_files

    assert endpoint_shapes(hub) == {
        ("POST", "/api/repos/create"),
        ("GET", f"/api/datasets/{REPO}"),  # repo_info: is it private?
        ("GET", f"/api/datasets/{REPO}/revision/v1"),  # does the version's tag exist, and where?
        ("GET", f"/api/datasets/{REPO}/tree/main"),  # list_repo_files: earlier shards to delete
        ("POST", f"/api/datasets/{REPO}/preupload/main"),
        ("POST", f"/datasets/{REPO}.git/info/lfs/objects/batch"),
        ("PUT", "/lfs/<oid>"),
        ("POST", "/lfs/<oid>/verify"),
        ("POST", "/api/validate-yaml"),
        ("POST", f"/api/datasets/{REPO}/commit/main"),
        ("POST", f"/api/datasets/{REPO}/tag/<oid>"),
    }
    refused = [(e.path, e.status) for e in hub.exchanges if e.status != 200]
    assert refused == [(f"/api/datasets/{REPO}/revision/v1", 404)], refused  # no tag yet
    # The token goes to the Hub, never to the blob store's signed URLs.
    assert {(e.method == "PUT", e.headers.get("authorization")) for e in hub.exchanges} == {(False, f"Bearer {TOKEN}"), (True, None)}


def test_a_later_version_replaces_the_shards_and_uploads_only_new_bytes(hub, corpus):
    first = built()
    push(first, hub)
    uploaded_first = len(hub.sent("PUT", "/lfs/[0-9a-f]{64}"))
    second = built(languages=["de"])  # no French any more
    pushed = push(second, hub)

    repo = hub.repos[REPO]
    assert repo.tags == {"v1": repo.commits[1]["oid"], "v2": repo.head} and pushed.tag == "v2"
    assert not any(p.startswith("fr/") for p in repo.files)  # deleted in the v2 commit
    assert any(p.startswith("fr/") for p in repo.commits[1]["files"])  # v1 still has them
    assert {p for p in repo.files if p.endswith(".parquet")} == {s["path"] for s in shards_of(second)}
    assert hashlib.sha256(hub.file_bytes(REPO, "manifest.json")).hexdigest() == second.manifest_sha256
    # Same rows, same bytes: the German shards were not sent again.
    unchanged = {s["sha256"] for s in shards_of(first)} & {s["sha256"] for s in shards_of(second)}
    assert unchanged and len(hub.sent("PUT", "/lfs/[0-9a-f]{64}")) == uploaded_first + len({s["sha256"] for s in shards_of(second)} - unchanged)
    assert len(repo.commits) == 3
    assert hub.sent("POST", "/api/repos/create")[-1]["visibility"] == "private"  # asked again, 409, accepted


def test_pushing_again_changes_nothing(hub, corpus):
    snapshot = built()
    first = push(snapshot, hub)
    again = push(snapshot, hub)
    assert again.commit_oid == first.commit_oid and len(hub.repos[REPO].commits) == 2


def test_a_version_tag_held_by_another_snapshot_is_refused_before_anything_is_sent(hub, corpus):
    push(built(), hub)
    other = snapshot_create(name="other", license="CC-BY-4.0", parameters={"languages": ["de"]}, enqueue=False)
    other = snapshot_build(snapshot_id=other.pk)  # other@1: its v1 would be corpus@1's tag
    push(built(languages=["de"]), hub)  # corpus@2 moves the head away from v1
    commits = len(hub.repos[REPO].commits)

    with pytest.raises(HubPushError, match="already has a tag v1"):
        push(other, hub)
    assert len(hub.repos[REPO].commits) == commits


def test_a_public_repo_is_refused(hub, corpus):
    snapshot = built()
    hub.add_repo(REPO, private=False)
    with pytest.raises(HubPushError, match="public"):
        push(snapshot, hub)
    assert len(hub.repos[REPO].commits) == 1 and not hub.blobs


def test_a_shard_altered_since_the_build_is_not_committed(hub, corpus):
    snapshot = built()
    shard = Path(snapshot.uri) / shards_of(snapshot)[0]["path"]
    shard.write_bytes(shard.read_bytes() + b"\0")
    with pytest.raises(HubPushError, match="does not match the manifest"):
        push(snapshot, hub)
    assert len(hub.repos[REPO].commits) == 1 and not hub.repos[REPO].tags


def test_what_the_hub_refuses_is_reported(hub, corpus):
    snapshot = built()
    with pytest.raises(HubPushError, match="401"):
        snapshot_push_to_hub(snapshot=snapshot, repo_id=REPO, token="hf_wrong", endpoint=hub.url)
    assert REPO not in hub.repos


def test_a_snapshot_that_is_not_ready_is_not_pushed(hub, corpus):
    draft = snapshot_create(name="corpus", license="CC-BY-4.0", parameters={"languages": ["de"]}, enqueue=False)
    with pytest.raises(HubPushError, match="not ready"):
        push(draft, hub)
    assert hub.exchanges == []


# ---- the request, the task, the pages -----------------------------------------


def request_push(snapshot, user, repo_id=REPO):
    return snapshot_hub_push_request(snapshot=snapshot, repo_id=repo_id, requested_by=user)


def test_staff_push_from_the_admin_and_the_worker_records_the_commit(client, staff, eager, corpus,
                                                                     django_capture_on_commit_callbacks):
    hub = eager
    snapshot = built()
    client.force_login(staff)
    changelist = reverse("admin:training_snapshot_changelist")
    form = client.post(changelist, {"action": "push_to_hub", "_selected_action": [snapshot.pk]})
    assert form.status_code == 200 and form.context["form"].initial["repo_id"] == REPO and not hub.exchanges

    with django_capture_on_commit_callbacks() as enqueued:
        response = client.post(changelist, {"action": "push_to_hub", "_selected_action": [snapshot.pk], "repo_id": REPO,
                                            "push": "Push"}, follow=True)
    # Queued, not pushed: the request answers before any byte goes to the Hub.
    message = str(list(response.context["messages"])[0])
    assert "queued" in message and reverse("snapshot_detail", args=[snapshot.pk]) in message
    queued = Snapshot.objects.get(pk=snapshot.pk)
    assert (queued.hub_status, queued.hub_repo, queued.hub_requested_by) == ("queued", REPO, staff)
    assert len(enqueued) == 1 and not hub.exchanges

    enqueued[0]()  # the worker's turn
    pushed, repo = Snapshot.objects.get(pk=snapshot.pk), hub.repos[REPO]
    assert (pushed.hub_status, pushed.hub_commit, pushed.hub_error) == ("pushed", repo.head, "")
    assert pushed.hub_url == f"{hub.url}/datasets/{REPO}"
    assert pushed.hub_commit_url == f"{hub.url}/datasets/{REPO}/commit/{repo.head}"
    assert repo.tags == {"v1": repo.head} and pushed.hub_pushed_at >= pushed.hub_started_at >= pushed.hub_requested_at

    bad = client.post(changelist, {"action": "push_to_hub", "_selected_action": [snapshot.pk], "repo_id": "../x", "push": "Push"})
    assert bad.status_code == 200 and bad.context["form"].errors


def test_staff_push_from_the_snapshot_page_and_follow_it_there(client, staff, eager, corpus, django_capture_on_commit_callbacks):
    hub = eager
    snapshot = built()
    client.force_login(staff)
    page = client.get(reverse("snapshot_detail", args=[snapshot.pk]))
    assert page.context["hub_can_push"] and page.context["hub_repo_default"] == REPO
    assert reverse("snapshot_hub_push", args=[snapshot.pk]).encode() in page.content

    with django_capture_on_commit_callbacks() as enqueued:
        response = client.post(reverse("snapshot_hub_push", args=[snapshot.pk]), {"repo_id": REPO}, follow=True)
    assert response.redirect_chain == [(reverse("snapshot_detail", args=[snapshot.pk]), 302)]
    assert "queued" in str(list(response.context["messages"])[0])
    assert not response.context["hub_can_push"] and b'data-hub-status="queued"' in response.content
    assert b'http-equiv="refresh"' in response.content  # follows the push until it is done

    enqueued[0]()
    page = client.get(reverse("snapshot_detail", args=[snapshot.pk]))
    head = hub.repos[REPO].head
    for shown in (f'href="{hub.url}/datasets/{REPO}"', f'href="{hub.url}/datasets/{REPO}/commit/{head}"', "v1",
                  'data-hub-status="pushed"'):
        assert shown.encode() in page.content, shown
    assert b'http-equiv="refresh"' not in page.content and page.context["hub_can_push"]  # may push again


def test_the_worker_on_the_default_queue_pushes_a_requested_snapshot(celery_worker, staff, portal_hub, corpus):
    snapshot = built()
    request_push(snapshot, staff)  # enqueued as the service's transaction commits
    done = wait_for(lambda: Snapshot.objects.filter(pk=snapshot.pk, hub_status__in=["pushed", "failed"]).first())
    assert done.hub_status == "pushed", done.hub_error
    assert done.hub_commit == portal_hub.repos[REPO].head and len(portal_hub.repos[REPO].commits) == 2


def test_a_second_delivery_changes_nothing(staff, eager, corpus, django_capture_on_commit_callbacks):
    hub = eager
    with django_capture_on_commit_callbacks(execute=True):
        request_push(snapshot := built(), staff)
    pushed, exchanges = Snapshot.objects.get(pk=snapshot.pk), len(hub.exchanges)
    assert pushed.hub_status == "pushed"

    snapshot_hub_push.apply(args=[snapshot.pk])  # the broker delivers it again
    again = Snapshot.objects.get(pk=snapshot.pk)
    assert len(hub.exchanges) == exchanges and len(hub.repos[REPO].commits) == 2
    fields = [f.attname for f in Snapshot._meta.fields]
    assert [getattr(again, name) for name in fields] == [getattr(pushed, name) for name in fields]


def test_a_delivery_while_another_uploads_returns_at_once(staff, eager, corpus, django_capture_on_commit_callbacks):
    hub = eager
    with django_capture_on_commit_callbacks() as enqueued:
        request_push(snapshot := built(), staff)
    other = connections.create_connection("default")  # the worker uploading it holds the snapshot's lock
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [hub_service._LOCK_CLASS, snapshot.pk])
        enqueued[0]()
        assert Snapshot.objects.get(pk=snapshot.pk).hub_status == "queued" and not hub.exchanges
        with other.cursor() as cursor:  # unlock before closing: a closed session's backend may outlive the close a moment
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [hub_service._LOCK_CLASS, snapshot.pk])
    finally:
        other.close()
    snapshot_hub_push.apply(args=[snapshot.pk])
    assert Snapshot.objects.get(pk=snapshot.pk).hub_status == "pushed"


def test_a_push_cut_off_half_way_is_redone_once(staff, eager, corpus, django_capture_on_commit_callbacks):
    hub = eager
    with django_capture_on_commit_callbacks():
        request_push(snapshot := built(), staff)
    # The worker died while uploading: the message comes back, the row says "pushing".
    push(snapshot, hub)
    Snapshot.objects.filter(pk=snapshot.pk).update(hub_status="pushing", hub_started_at=timezone.now() - timedelta(hours=1))
    snapshot_hub_push.apply(args=[snapshot.pk])
    redone = Snapshot.objects.get(pk=snapshot.pk)
    assert redone.hub_status == "pushed" and redone.hub_commit == hub.repos[REPO].head
    assert len(hub.repos[REPO].commits) == 2  # the Hub skipped the empty commit


def test_a_failing_hub_records_failed_with_the_file_and_the_answer_but_not_the_token(client, staff, eager, corpus,
                                                                                     django_capture_on_commit_callbacks):
    hub = eager
    snapshot = built()
    # Signed upload URLs expire; the blob store says so.
    hub.refuse("PUT", "/lfs/[0-9a-f]{64}", 403, f"Request has expired (token {TOKEN})")
    with django_capture_on_commit_callbacks(execute=True):
        request_push(snapshot, staff)

    failed = Snapshot.objects.get(pk=snapshot.pk)
    assert failed.hub_status == "failed" and not failed.hub_commit and not failed.hub_pushed_at
    error = failed.hub_error
    assert re.search(r"Error while uploading '(de|fr)/train-\d{5}\.parquet' to the Hub", error), error
    assert f"The Hub answered 403 Forbidden to PUT {hub.url}/lfs/" in error and "Request has expired" in error, error
    assert TOKEN not in error and "[token]" in error and "signature" not in error, error
    assert len(hub.repos[REPO].commits) == 1  # nothing committed

    client.force_login(staff)
    page = client.get(reverse("snapshot_detail", args=[snapshot.pk]))
    assert b'data-hub-status="failed"' in page.content and b"Request has expired" in page.content
    assert TOKEN.encode() not in page.content and page.context["hub_can_push"]

    hub.refusals.clear()  # pushing again after a failure goes through
    with django_capture_on_commit_callbacks(execute=True):
        request_push(snapshot, staff)
    again = Snapshot.objects.get(pk=snapshot.pk)
    assert (again.hub_status, again.hub_error, again.hub_commit) == ("pushed", "", hub.repos[REPO].head)


def test_a_wrong_token_and_a_public_repo_are_recorded(staff, eager, corpus, settings, django_capture_on_commit_callbacks):
    hub = eager
    snapshot = built()
    settings.SNAPSHOT_HUB_TOKEN = "hf_" + "x" * 34
    with django_capture_on_commit_callbacks(execute=True):
        request_push(snapshot, staff)
    failed = Snapshot.objects.get(pk=snapshot.pk)
    assert failed.hub_status == "failed" and "401 Unauthorized" in failed.hub_error and "Invalid credentials" in failed.hub_error
    assert settings.SNAPSHOT_HUB_TOKEN not in failed.hub_error

    settings.SNAPSHOT_HUB_TOKEN = TOKEN
    hub.add_repo("occiportal/public", private=False)
    with django_capture_on_commit_callbacks(execute=True):
        request_push(snapshot, staff, "occiportal/public")
    refused = Snapshot.objects.get(pk=snapshot.pk)
    assert refused.hub_status == "failed" and "is public" in refused.hub_error
    assert len(hub.repos["occiportal/public"].commits) == 1


def test_a_push_out_of_time_is_recorded(staff, eager, corpus, monkeypatch, django_capture_on_commit_callbacks):
    def slow(*args, **kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(hub_service, "_push", slow)
    with django_capture_on_commit_callbacks(execute=True):
        request_push(snapshot := built(), staff)
    failed = Snapshot.objects.get(pk=snapshot.pk)
    assert failed.hub_status == "failed" and "ran out of time (6 hours)" in failed.hub_error


def test_the_task_acks_late_with_a_time_limit_for_large_uploads():
    assert snapshot_hub_push.acks_late and snapshot_hub_push.soft_time_limit == hub_service.PUSH_SECONDS >= 3600
    assert snapshot_hub_push.time_limit > snapshot_hub_push.soft_time_limit


@pytest.mark.parametrize("repo_id", ["../x", "corpus", "a/b/c", "org/", "-org/x", "org/x--y", "org/x..y", "ørg/x", "org/x\n",
                                     "org/" + "x" * 97])
def test_a_malformed_repository_id_is_refused(staff, portal_hub, corpus, repo_id, django_capture_on_commit_callbacks):
    snapshot = built()
    with django_capture_on_commit_callbacks() as enqueued, pytest.raises(ValidationError, match="not a Hub repository id"):
        request_push(snapshot, staff, repo_id)
    assert not enqueued and Snapshot.objects.get(pk=snapshot.pk).hub_status == "none"


def test_a_push_is_refused_unless_ready_and_while_one_is_in_flight(staff, portal_hub, corpus, django_capture_on_commit_callbacks):
    draft = snapshot_create(name="corpus", license="CC-BY-4.0", parameters={"languages": ["de"]}, enqueue=False)
    with pytest.raises(ValidationError, match="ready"):
        request_push(draft, staff)

    snapshot = built()
    with django_capture_on_commit_callbacks() as enqueued:
        request_push(snapshot, staff)
        with pytest.raises(ValidationError, match="already queued"):
            request_push(snapshot, staff, "occiportal/other")
        Snapshot.objects.filter(pk=snapshot.pk).update(hub_status="pushing", hub_started_at=timezone.now())
        with pytest.raises(ValidationError, match="being pushed"):
            request_push(snapshot, staff)
        # Past the hard time limit the worker was killed: it may be asked for again.
        Snapshot.objects.filter(pk=snapshot.pk).update(hub_started_at=timezone.now() - timedelta(hours=7))
        assert request_push(snapshot, staff, "occiportal/other").hub_status == "queued"
        # So may a push queued that long ago: its message was lost.
        Snapshot.objects.filter(pk=snapshot.pk).update(hub_requested_at=timezone.now() - timedelta(hours=7))
        assert request_push(snapshot, staff).hub_status == "queued"
    assert len(enqueued) == 3 and Snapshot.objects.get(pk=snapshot.pk).hub_repo == REPO

    (Path(snapshot.uri) / "manifest.json").write_bytes(b"{}")  # altered since the build
    _listing.cache_clear()  # each process checks a manifest once
    Snapshot.objects.filter(pk=snapshot.pk).update(hub_status="failed")
    with pytest.raises(ValidationError, match="unreadable or altered"):
        request_push(snapshot, staff)


def test_only_staff_reach_the_push(client, member_a, staff, portal_hub, corpus, django_capture_on_commit_callbacks):
    snapshot = built()  # holds member_a's partner's data: they see its page
    url = reverse("snapshot_hub_push", args=[snapshot.pk])
    client.force_login(member_a)
    assert client.get(reverse("snapshot_detail", args=[snapshot.pk])).status_code == 200
    with django_capture_on_commit_callbacks() as enqueued:
        assert client.post(url, {"repo_id": REPO}).status_code == 404
        assert client.get(url).status_code == 404
        assert client.post(reverse("snapshot_hub_push", args=[snapshot.pk + 1000]), {"repo_id": REPO}).status_code == 404
        response = client.post(reverse("admin:training_snapshot_changelist"),
                               {"action": "push_to_hub", "_selected_action": [snapshot.pk], "repo_id": REPO, "push": "Push"})
        assert response.status_code == 302 and "login" in response.url
        with pytest.raises(PermissionDenied):
            request_push(snapshot, member_a)
    page = client.get(reverse("snapshot_detail", args=[snapshot.pk]))
    assert url.encode() not in page.content and b"data-hub-status" not in page.content
    client.logout()
    assert client.post(url, {"repo_id": REPO}).status_code == 302  # to the sign-in page
    assert not enqueued and Snapshot.objects.get(pk=snapshot.pk).hub_status == "none" and not portal_hub.exchanges
