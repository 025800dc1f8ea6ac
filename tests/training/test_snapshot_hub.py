"""Publishing to the Hub: huggingface_hub's real HTTP calls against the stand-in server in hub_server.py."""

import fnmatch
import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml
from django.urls import reverse

from tests.training.hub_server import TOKEN, HubTestServer
from training.models import Snapshot
from training.services.hub import HubPush, HubPushError, snapshot_push_to_hub
from training.services.snapshot_build import snapshot_build
from training.services.snapshots import snapshot_create

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
        ("GET", f"/api/datasets/{REPO}/tree/main"),  # list_repo_files: earlier shards to delete
        ("POST", f"/api/datasets/{REPO}/preupload/main"),
        ("POST", f"/datasets/{REPO}.git/info/lfs/objects/batch"),
        ("PUT", "/lfs/<oid>"),
        ("POST", "/lfs/<oid>/verify"),
        ("POST", "/api/validate-yaml"),
        ("POST", f"/api/datasets/{REPO}/commit/main"),
        ("POST", f"/api/datasets/{REPO}/tag/<oid>"),
    }
    assert all(e.status == 200 for e in hub.exchanges), [(e.path, e.status, e.response) for e in hub.exchanges if e.status != 200]
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


def test_staff_push_from_the_admin_and_see_the_repo_and_commit(client, staff, hub, corpus, settings):
    settings.SNAPSHOT_HUB_ENDPOINT, settings.SNAPSHOT_HUB_TOKEN, settings.SNAPSHOT_HUB_NAMESPACE = hub.url, TOKEN, "occiportal"
    snapshot = built()
    client.force_login(staff)
    changelist = reverse("admin:training_snapshot_changelist")
    form = client.post(changelist, {"action": "push_to_hub", "_selected_action": [snapshot.pk]})
    assert form.status_code == 200 and form.context["form"].initial["repo_id"] == REPO and not hub.exchanges

    response = client.post(changelist, {"action": "push_to_hub", "_selected_action": [snapshot.pk], "repo_id": REPO,
                                        "push": "Push"}, follow=True)
    repo = hub.repos[REPO]
    message = str(list(response.context["messages"])[0])
    assert f'href="{hub.url}/datasets/{REPO}"' in message and f'href="{hub.url}/datasets/{REPO}/commit/{repo.head}"' in message
    assert repo.head in message and "v1" in message

    hub.add_repo("occiportal/public", private=False)
    response = client.post(changelist, {"action": "push_to_hub", "_selected_action": [snapshot.pk],
                                        "repo_id": "occiportal/public", "push": "Push"}, follow=True)
    assert "public" in str(list(response.context["messages"])[0]) and len(hub.repos["occiportal/public"].commits) == 1
    bad = client.post(changelist, {"action": "push_to_hub", "_selected_action": [snapshot.pk], "repo_id": "../x", "push": "Push"})
    assert bad.status_code == 200 and bad.context["form"].errors


def test_only_staff_reach_the_push(client, member_a, corpus):
    snapshot = built()
    client.force_login(member_a)
    response = client.post(reverse("admin:training_snapshot_changelist"), {"action": "push_to_hub", "_selected_action": [snapshot.pk]})
    assert response.status_code == 302 and "login" in response.url
    assert Snapshot.objects.get(pk=snapshot.pk).status == "ready"
