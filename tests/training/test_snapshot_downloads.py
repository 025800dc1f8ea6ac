"""Who sees and who downloads a snapshot; its files page; byte ranges; the API with tokens; a shard streamed over HTTP."""

import gc
import hashlib
import io
import json
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.conftest import make_user
from training.services.snapshot_build import snapshot_build
from training.services.snapshots import snapshot_access_grant, snapshot_create


def built(name="shared", languages=("de", "fr")):
    snapshot = snapshot_create(name=name, license="CC-BY-4.0", parameters={"languages": list(languages)}, enqueue=False)
    return snapshot_build(snapshot_id=snapshot.pk)


def manifest(snapshot) -> dict:
    return json.loads((Path(snapshot.uri) / "manifest.json").read_bytes())


def first_shard(snapshot) -> dict:
    return manifest(snapshot)["shards"][0]


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def grantee(db):
    """Gina, no partner: given access to one snapshot by staff."""
    return make_user("gina")


def test_who_sees_and_who_downloads(client, staff, member_a, member_b, grantee, corpus):
    both, german = built(), built("german", languages=["de"])
    snapshot_access_grant(snapshot=both, user=grantee, granted_by=staff, reason="Occitan MT project; CC-BY attribution kept.")
    expired = make_user("ernst")
    snapshot_access_grant(snapshot=both, user=expired, granted_by=staff, reason="Last year's project.",
                          expires_at=timezone.now() - timedelta(days=1))
    trainer = make_user("trainer")
    trainer.user_permissions.add(Permission.objects.get(codename="download_snapshot"))
    shard = first_shard(both)["path"]

    def answers(user, snapshot):
        client.force_login(user)
        urls = {"page": reverse("snapshot_detail", args=[snapshot.pk]), "files": reverse("snapshot_files", args=[snapshot.pk]),
                "card": reverse("snapshot_file", args=[snapshot.pk, "README.md"]),
                "shard": reverse("snapshot_file", args=[snapshot.pk, shard])}
        return {what: client.get(url).status_code for what, url in urls.items()}

    everything = {"page": 200, "files": 200, "card": 200, "shard": 200}
    assert answers(staff, both) == everything
    assert answers(grantee, both) == everything
    assert answers(trainer, both) == everything
    # A partner sees the snapshots holding its data, card and manifest included, but downloads no shard.
    assert answers(member_a, both) == {"page": 200, "files": 404, "card": 200, "shard": 404}
    assert answers(member_b, both) == {"page": 200, "files": 404, "card": 200, "shard": 404}
    nothing = {"page": 404, "files": 404, "card": 404, "shard": 404}
    assert answers(member_b, german) == nothing  # no French in it: none of Beta's business
    assert answers(grantee, german) == nothing  # the grant is for one snapshot
    assert answers(expired, both) == nothing
    assert answers(make_user("otto"), both) == nothing

    client.force_login(member_b)
    assert [s.label for s in client.get(reverse("snapshot_list")).context["snapshots"]] == ["shared@1"]
    page = client.get(reverse("snapshot_detail", args=[both.pk]))
    assert {row.partner.slug for row in page.context["lineage"]} == {"beta"}  # its own rows, not Alpha's
    assert b"Alpha Archive" not in page.content.split(b"Your contributions")[1].split(b"</section>")[0]
    files_link = f'href="{reverse("snapshot_files", args=[both.pk])}"'.encode()
    assert files_link not in page.content
    client.force_login(grantee)
    page = client.get(reverse("snapshot_detail", args=[both.pk]))
    assert page.context["can_download"] and list(page.context["lineage"]) == []
    assert files_link in page.content


def test_only_staff_grant_and_they_say_why(staff, member_a, grantee, corpus):
    snapshot = built()
    with pytest.raises(PermissionDenied):
        snapshot_access_grant(snapshot=snapshot, user=grantee, granted_by=member_a, reason="I would like it.")
    with pytest.raises(ValidationError):
        snapshot_access_grant(snapshot=snapshot, user=grantee, granted_by=staff, reason="  ")
    first = snapshot_access_grant(snapshot=snapshot, user=grantee, granted_by=staff, reason="Project A.")
    again = snapshot_access_grant(snapshot=snapshot, user=grantee, granted_by=staff, reason="Project B.")
    assert first.pk == again.pk and again.reason == "Project B."


def test_a_grant_given_to_someone_else_in_the_admin_leaves_its_holder(client, staff, grantee, corpus):
    from training.access import snapshot_downloadable

    snapshot = built()
    grant = snapshot_access_grant(snapshot=snapshot, user=grantee, granted_by=staff, reason="Project A.")
    successor = make_user("successor")
    client.force_login(staff)
    form = {
        "description": snapshot.description, "grants-TOTAL_FORMS": "1", "grants-INITIAL_FORMS": "1",
        "grants-MIN_NUM_FORMS": "0", "grants-MAX_NUM_FORMS": "1000", "grants-0-id": str(grant.pk),
        "grants-0-snapshot": str(snapshot.pk), "grants-0-user": str(successor.pk), "grants-0-reason": "Project A.",
        "grants-0-expires_at_0": "", "grants-0-expires_at_1": "",
        "lineage-TOTAL_FORMS": "0", "lineage-INITIAL_FORMS": "0", "lineage-MIN_NUM_FORMS": "0", "lineage-MAX_NUM_FORMS": "0",
    }  # fmt: skip
    answer = client.post(reverse("admin:training_snapshot_change", args=[snapshot.pk]), form)

    assert answer.status_code == 302, answer.context["adminform"].form.errors if answer.context else answer
    assert snapshot_downloadable(successor, snapshot) and not snapshot_downloadable(grantee, snapshot)


def test_files_page_lists_card_manifest_and_shards_with_sizes_and_sha256(client, staff, corpus, django_assert_max_num_queries):
    snapshot = built()
    client.force_login(staff)
    with django_assert_max_num_queries(6):
        page = client.get(reverse("snapshot_files", args=[snapshot.pk]))
    assert page.status_code == 200
    root, listed = Path(snapshot.uri), manifest(snapshot)
    files = page.context["files"]
    assert [f.path for f in files] == ["README.md", "manifest.json", *(s["path"] for s in listed["shards"])]
    assert {(f.language, f.split) for f in files if f.kind == "shard"} == {
        (lang, split) for lang, splits in snapshot.counts.items() for split in splits if splits[split]["records"]}
    for f in files:
        data = (root / f.path).read_bytes()
        assert f.size == len(data) and f.sha256 == sha256(data), f.path
        assert f.sha256.encode() in page.content and reverse("snapshot_file", args=[snapshot.pk, f.path]).encode() in page.content
    assert files[1].sha256 == snapshot.manifest_sha256 and files[0].sha256 == listed["card_sha256"]


def test_ranges_resume_a_download_and_the_sha256_is_the_etag(client, staff, corpus):
    snapshot = built()
    entry = first_shard(snapshot)
    data = (Path(snapshot.uri) / entry["path"]).read_bytes()
    url, size = reverse("snapshot_file", args=[snapshot.pk, entry["path"]]), len(data)
    client.force_login(staff)

    whole = client.get(url)
    assert whole.status_code == 200 and body(whole) == data
    assert whole["ETag"] == f'"{entry["sha256"]}"' and whole["Accept-Ranges"] == "bytes"
    assert whole["Content-Length"] == str(size) and whole["Content-Type"] == "application/vnd.apache.parquet"
    assert whole["Content-Disposition"].startswith("attachment;") and "private" in whole["Cache-Control"]

    # curl -C - : the first half arrived, the rest is asked for from there.
    half = size // 2
    rest = client.get(url, HTTP_RANGE=f"bytes={half}-", HTTP_IF_RANGE=f'"{entry["sha256"]}"')
    assert rest.status_code == 206 and rest["Content-Range"] == f"bytes {half}-{size - 1}/{size}"
    assert rest["Content-Length"] == str(size - half)
    assert sha256(data[:half] + body(rest)) == entry["sha256"]

    assert body(client.get(url, HTTP_RANGE="bytes=0-3")) == b"PAR1"
    footer = client.get(url, HTTP_RANGE="bytes=-8")  # how a Parquet reader starts: the footer length and magic
    assert footer.status_code == 206 and body(footer) == data[-8:] and data.endswith(b"PAR1")
    assert body(client.get(url, HTTP_RANGE=f"bytes=10-{size + 100}")) == data[10:]

    beyond = client.get(url, HTTP_RANGE=f"bytes={size}-")
    assert beyond.status_code == 416 and beyond["Content-Range"] == f"bytes */{size}"
    for ignored in ("bytes=0-1,4-5", "bytes=9-3", "lines=1-2"):
        assert client.get(url, HTTP_RANGE=ignored).status_code == 200, ignored
    changed = client.get(url, HTTP_RANGE="bytes=0-3", HTTP_IF_RANGE='"something-else"')
    assert changed.status_code == 200 and body(changed) == data  # other bytes held: the whole file again

    head = client.head(url)
    assert head.status_code == 200 and head["Content-Length"] == str(size) and head.content == b""
    assert client.head(url, HTTP_RANGE="bytes=0-9")["Content-Length"] == "10"
    assert client.post(url).status_code == 405


def test_only_files_the_manifest_lists_and_only_inside_the_folder(client, staff, corpus, settings):
    snapshot = built()
    root = Path(snapshot.uri)
    (root / "de" / "stray.parquet").write_bytes(b"PAR1 not in the manifest")
    (Path(settings.DATA_DIR) / "secret.txt").write_text("secret")
    client.force_login(staff)
    for path in ("de/stray.parquet", "../../secret.txt", "de/../../../secret.txt", "%2e%2e/%2e%2e/secret.txt",
                 str(Path(settings.DATA_DIR) / "secret.txt"), "de", "de/", "./README.md"):
        assert client.get(f"/snapshots/{snapshot.pk}/files/{path}").status_code == 404, path
        assert client.get(f"/api/snapshots/{snapshot.pk}/files/{path}").status_code == 404, path

    building = snapshot_create(name="later", license="CC-BY-4.0", parameters={"languages": ["de"]}, enqueue=False)
    assert client.get(reverse("snapshot_files", args=[building.pk])).status_code == 404
    assert client.get(reverse("snapshot_file", args=[building.pk, "README.md"])).status_code == 404


def test_an_altered_manifest_serves_nothing(client, staff, corpus):
    snapshot = built()
    path = Path(snapshot.uri) / "manifest.json"
    path.write_bytes(path.read_bytes().replace(b'"rows"', b'"Rows"'))
    client.force_login(staff)
    page = client.get(reverse("snapshot_files", args=[snapshot.pk]))
    assert page.status_code == 200 and page.context["files"] == [] and b'role="alert"' in page.content
    assert client.get(reverse("snapshot_file", args=[snapshot.pk, "README.md"])).status_code == 404


def test_downloads_can_be_handed_to_the_web_server(client, staff, corpus, settings):
    snapshot = built()
    entry = first_shard(snapshot)
    client.force_login(staff)
    url = reverse("snapshot_file", args=[snapshot.pk, entry["path"]])
    settings.SNAPSHOT_SENDFILE_HEADER, settings.SNAPSHOT_SENDFILE_PREFIX = "X-Accel-Redirect", "/_data/"
    response = client.get(url)
    inside = (Path(snapshot.uri) / entry["path"]).resolve().relative_to(Path(settings.DATA_DIR).resolve())
    assert response.status_code == 200 and response.content == b""
    assert response["X-Accel-Redirect"] == f"/_data/{inside.as_posix()}" and response["ETag"] == f'"{entry["sha256"]}"'
    settings.SNAPSHOT_SENDFILE_HEADER = "X-Sendfile"
    assert client.get(url)["X-Sendfile"] == str((Path(snapshot.uri) / entry["path"]).resolve())
    client.force_login(make_user("otto"))
    assert client.get(url).status_code == 404  # the check comes first, whoever sends the bytes


def test_api_lists_snapshots_and_serves_files_for_a_token(staff, member_a, grantee, corpus):
    snapshot = built()
    snapshot_access_grant(snapshot=snapshot, user=grantee, granted_by=staff, reason="Training run for the MT project.")
    api = APIClient()
    assert api.get(reverse("api_snapshot_list")).status_code == 401

    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=grantee).key}")
    listing = api.get(reverse("api_snapshot_list")).json()
    assert [(s["label"], s["can_download"]) for s in listing["results"]] == [("shared@1", True)]
    detail = api.get(reverse("api_snapshot_detail", args=[snapshot.pk])).json()
    listed = manifest(snapshot)
    assert [f["path"] for f in detail["files"]] == ["README.md", "manifest.json", *(s["path"] for s in listed["shards"])]
    for f in detail["files"]:
        response = api.get(f["url"])
        assert response.status_code == 200 and sha256(body(response)) == f["sha256"], f["path"]
    assert sha256(body(api.get(detail["files"][1]["url"]))) == snapshot.manifest_sha256
    shard = detail["files"][2]
    ranged = api.get(shard["url"], HTTP_RANGE="bytes=-8", HTTP_ACCEPT="application/vnd.apache.parquet")
    assert ranged.status_code == 206 and body(ranged).endswith(b"PAR1")
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {Token.objects.get(user=grantee).key}")
    assert bearer.get(shard["url"]).status_code == 200

    # A partner whose data is in it: the card and manifest, no shards.
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=member_a).key}")
    mine = api.get(reverse("api_snapshot_detail", args=[snapshot.pk])).json()
    assert not mine["can_download"] and [f["kind"] for f in mine["files"]] == ["card", "manifest"]
    assert api.get(shard["url"]).status_code == 404
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=make_user('otto')).key}")
    assert api.get(reverse("api_snapshot_detail", args=[snapshot.pk])).status_code == 404
    assert api.get(shard["url"]).status_code == 404 and api.get(reverse("api_snapshot_list")).json()["results"] == []


class HttpRangeFile(io.RawIOBase):
    """A read-only file over HTTP, each read one ``Range`` request: how remote Parquet readers see a shard."""

    def __init__(self, url, headers):
        import httpx

        self.client, self.url, self.position, self.requests = httpx.Client(headers=headers), url, 0, []
        head = self.client.head(url)
        head.raise_for_status()
        self.size = int(head.headers["Content-Length"])

    def close(self):
        self.client.close()
        super().close()

    def seekable(self):
        return True

    def readable(self):
        return True

    def tell(self):
        return self.position

    def seek(self, offset, whence=io.SEEK_SET):
        self.position = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence] + offset
        return self.position

    def read(self, size=-1):
        end = self.size if size < 0 else min(self.size, self.position + size)
        if end <= self.position:
            return b""
        response = self.client.get(self.url, headers={"Range": f"bytes={self.position}-{end - 1}"})
        assert response.status_code == 206, response.status_code
        self.requests.append(response.headers["Content-Range"])
        self.position += len(response.content)
        return response.content

    def readinto(self, buffer):
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def test_a_shard_streams_over_http_with_a_token(live_server, staff, grantee, corpus):
    snapshot = built()
    snapshot_access_grant(snapshot=snapshot, user=grantee, granted_by=staff, reason="Streaming test.")
    headers = {"Authorization": f"Token {Token.objects.create(user=grantee).key}"}
    entry = first_shard(snapshot)
    url = live_server.url + reverse("api_snapshot_file", args=[snapshot.pk, entry["path"]])

    with HttpRangeFile(url, headers) as remote:
        table = pq.ParquetFile(remote).read()
    assert table.equals(pq.read_table(Path(snapshot.uri) / entry["path"]))
    assert table.num_rows == entry["rows"] and remote.requests  # read by ranges, footer first
    assert remote.requests[0].endswith(f"/{remote.size}")

    import httpx

    streamed = hashlib.sha256()
    with httpx.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        for block in response.iter_bytes():
            streamed.update(block)
    assert streamed.hexdigest() == entry["sha256"]
    assert httpx.get(url).status_code == 401


def test_datasets_streams_shards_with_an_authorization_header(live_server, staff, grantee, corpus):
    pytest.importorskip("aiohttp", reason="datasets streams HTTP files through fsspec, which needs aiohttp")
    import datasets
    import fsspec.implementations.http

    snapshot = built()
    snapshot_access_grant(snapshot=snapshot, user=grantee, granted_by=staff, reason="Streaming test.")
    token = Token.objects.create(user=grantee).key
    shards = [s for s in manifest(snapshot)["shards"] if s["path"].startswith("de/train-")]
    urls = [live_server.url + reverse("api_snapshot_file", args=[snapshot.pk, s["path"]]) for s in shards]
    stream = datasets.load_dataset("parquet", data_files=urls, split="train", streaming=True,
                                   storage_options={"headers": {"Authorization": f"Token {token}"}})
    assert sum(1 for _ in stream) == sum(s["rows"] for s in shards)
    # fsspec keeps its HTTP sessions open; each would keep a live-server thread and its database connection.
    fsspec.implementations.http.HTTPFileSystem.clear_instance_cache()
    del stream
    gc.collect()
