"""Resumable uploads (tus 1.0.0): pieces, offsets, dropped connections, other people's uploads."""

import base64
import fcntl
import io
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import Record, Submission, Upload
from annotation.services.uploads import upload_append, upload_create, uploads_expire

from .ingest_helpers import ingest_now, jsonl
from .texts import documents

TUS = {"HTTP_TUS_RESUMABLE": "1.0.0"}
FIELDS = {
    "partner": "alpha", "language": "de", "kind": "pretraining", "license": "CC-BY-4.0",
    "source": "Newspaper archive, digitised by us.", "consent": True,
}  # fmt: skip


@pytest.fixture
def api(client, member_a):
    client.force_login(member_a)
    return client


def create(api, length: int, name: str = "zeitungen.jsonl"):
    metadata = f"filename {base64.b64encode(name.encode()).decode()}"
    return api.post("/api/uploads/", HTTP_UPLOAD_LENGTH=str(length), HTTP_UPLOAD_METADATA=metadata, **TUS)


def patch(api, url: str, offset: int, data: bytes):
    return api.generic(
        "PATCH", url, data, content_type="application/offset+octet-stream", HTTP_UPLOAD_OFFSET=str(offset), **TUS
    )


def offset_of(api, url: str) -> int:
    response = api.head(url, **TUS)
    assert response.status_code == 200
    return int(response["Upload-Offset"])


def test_a_file_sent_in_pieces_becomes_a_submission_with_every_record(api, settings, django_capture_on_commit_callbacks):
    content = jsonl({"text": t} for t in documents(60)).encode()
    created = create(api, len(content))
    assert created.status_code == 201 and created["Tus-Resumable"] == "1.0.0"
    url = created["Location"]

    for start in range(0, len(content), 4096):
        response = patch(api, url, start, content[start : start + 4096])
        assert response.status_code == 204
        assert int(response["Upload-Offset"]) == min(start + 4096, len(content))
    assert offset_of(api, url) == len(content)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/submissions/", {**FIELDS, "upload": created.json()["id"]}, content_type="application/json")

    assert response.status_code == 201, response.json()
    submission = Submission.objects.get(pk=response.json()["id"])
    assert submission.file.read() == content  # until ingest has stored the records
    submission = ingest_now(submission)
    assert submission.original_name == "zeitungen.jsonl" and submission.size_bytes == len(content)
    assert submission.records_accepted == 60 == Record.objects.filter(submission=submission).count()
    assert not Upload.objects.exists()  # used up, its part file moved into place
    assert not list(settings.UPLOAD_INCOMING_DIR.iterdir())  # nor its staged name


def test_a_piece_at_the_wrong_offset_is_refused_and_the_client_asks_where_to_go_on(api):
    url = create(api, 10)["Location"]
    assert patch(api, url, 0, b"01234").status_code == 204

    again = patch(api, url, 0, b"01234")  # a retry of a piece that did arrive
    assert again.status_code == 409 and "holds 5 bytes" in again.json()["detail"]
    assert offset_of(api, url) == 5
    assert patch(api, url, 5, b"56789").status_code == 204
    assert Upload.objects.get().part_path.read_bytes() == b"0123456789"


def test_bytes_past_the_declared_length_are_refused_and_nothing_counts(api):
    url = create(api, 8)["Location"]

    response = patch(api, url, 0, b"0123456789")

    assert response.status_code == 413 and "past the end" in response.json()["detail"]
    assert offset_of(api, url) == 0


def test_a_dropped_connection_keeps_the_bytes_that_arrived(member_a, partner_a):
    upload = upload_create(owner=member_a, filename="big.jsonl", length=100)

    class Dropping(io.BytesIO):
        def read(self, size=-1):
            if self.tell() >= 30:
                raise OSError("client went away")
            return super().read(min(size, 10))

    with pytest.raises(OSError):
        upload_append(upload=upload, offset=0, stream=Dropping(bytes(range(100))), content_length=100)

    upload.refresh_from_db()
    assert upload.offset == 30  # the next PATCH goes on from byte 30
    assert upload.part_path.read_bytes() == bytes(range(30))


def test_two_writers_at_once_the_second_is_told_to_ask_again(api):
    url = create(api, 10)["Location"]
    with open(Upload.objects.get().part_path, "r+b") as part:
        fcntl.flock(part, fcntl.LOCK_EX)  # another request is writing

        response = patch(api, url, 0, b"01234")

    assert response.status_code == 409 and "Another request" in response.json()["detail"]
    assert offset_of(api, url) == 0


def test_another_users_upload_reads_like_a_missing_one(api, client, member_b):
    url = create(api, 10)["Location"]
    upload_id = Upload.objects.get().pk
    client.force_login(member_b)

    assert client.head(url, **TUS).status_code == 404
    assert patch(client, url, 0, b"01234").status_code == 404
    assert client.delete(url, **TUS).status_code == 404
    fields = {**FIELDS, "partner": "beta", "upload": str(upload_id)}
    response = client.post("/api/submissions/", fields, content_type="application/json")
    assert response.status_code == 400 and response.json() == {"upload": ["No such upload."]}
    assert Upload.objects.get().offset == 0


def test_an_unfinished_upload_cannot_be_submitted(api):
    created = create(api, 10)
    patch(api, created["Location"], 0, b"01234")

    response = api.post("/api/submissions/", {**FIELDS, "upload": created.json()["id"]}, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"upload": ["The upload is not finished: 5 of 10 bytes received."]}
    assert not Submission.objects.exists() and Upload.objects.exists()


def test_a_file_or_an_upload_not_both(api, upload):
    created = create(api, 10)
    response = api.post("/api/submissions/", {**FIELDS, "consent": "true", "file": upload("x"), "upload": created.json()["id"]})
    assert response.status_code == 400 and "not both" in json.dumps(response.json())


@pytest.mark.parametrize(
    "headers, status",
    [
        ({"HTTP_UPLOAD_LENGTH": "10"}, 412),  # no Tus-Resumable
        ({**TUS}, 400),  # no Upload-Length
        ({**TUS, "HTTP_UPLOAD_LENGTH": "0"}, 400),
        ({**TUS, "HTTP_UPLOAD_LENGTH": str(10**13)}, 413),
        ({**TUS, "HTTP_UPLOAD_LENGTH": "10", "HTTP_UPLOAD_METADATA": "filename not-base64!"}, 400),
    ],
)
def test_creation_refuses_bad_headers_clearly(api, headers, status):
    response = api.post("/api/uploads/", **headers)
    assert response.status_code == status
    assert response.json()["detail"]


def test_only_partner_members_may_upload(client, db):
    from tests.conftest import make_user

    client.force_login(make_user("nobody"))
    assert create(client, 10).status_code == 403


def test_options_announce_the_protocol(api):
    response = api.options("/api/uploads/")
    assert response.status_code == 204
    assert response["Tus-Version"] == "1.0.0" and response["Tus-Extension"] == "creation,termination,expiration"


def test_cancel_and_expiry_drop_the_bytes(api, member_a):
    url = create(api, 10)["Location"]
    part = Upload.objects.get().part_path
    assert api.delete(url, **TUS).status_code == 204
    assert not part.exists() and not Upload.objects.exists()

    stale = upload_create(owner=member_a, filename="old.jsonl", length=10)
    fresh = upload_create(owner=member_a, filename="new.jsonl", length=10)
    Upload.objects.filter(pk=stale.pk).update(updated_at=timezone.now() - timedelta(days=8))

    assert uploads_expire() == 1
    assert list(Upload.objects.all()) == [fresh] and not stale.part_path.exists() and fresh.part_path.exists()


def test_the_upload_form_takes_a_finished_upload_in_place_of_the_file(api):
    content = jsonl({"text": t} for t in documents(3)).encode()
    created = create(api, len(content))
    patch(api, created["Location"], 0, content)
    form = {**FIELDS, "consent": "on", "upload": created.json()["id"]}

    refused = api.post("/submissions/new/", {**form, "upload": "00000000-0000-0000-0000-000000000000"})
    assert refused.status_code == 400 and "no longer exists" in refused.content.decode()
    response = api.post("/submissions/new/", form)

    assert response.status_code == 302
    submission = Submission.objects.get()
    assert (submission.original_name, submission.file.read()) == ("zeitungen.jsonl", content)
    empty = api.post("/submissions/new/", {**form, "upload": ""})
    assert empty.status_code == 400 and "Choose a file" in empty.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_standard_tus_client_uploads_in_pieces(live_server, member_a, tmp_path):
    from rest_framework.authtoken.models import Token
    from tusclient.client import TusClient

    content = jsonl({"text": t} for t in documents(40)).encode()
    path = tmp_path / "korpus.jsonl"
    path.write_bytes(content)
    token = Token.objects.create(user=member_a)
    client = TusClient(f"{live_server.url}/api/uploads/", headers={"Authorization": f"Token {token.key}"})

    uploader = client.uploader(str(path), chunk_size=1000, metadata={"filename": "korpus.jsonl"})
    uploader.upload()

    upload = Upload.objects.get()
    assert (upload.filename, upload.offset, upload.length) == ("korpus.jsonl", len(content), len(content))
    assert upload.part_path.read_bytes() == content
    assert uploader.url.rstrip("/").rsplit("/", 1)[-1] == str(upload.pk)  # as the README reads the id


def test_abandoned_uploads_make_room_but_ones_in_progress_do_not(member_a):
    from annotation.services.uploads import MAX_OPEN_PER_USER, UploadError

    uploads = [upload_create(owner=member_a, filename=f"{i}.jsonl", length=10) for i in range(MAX_OPEN_PER_USER)]
    with pytest.raises(UploadError, match="in progress"):
        upload_create(owner=member_a, filename="one-more.jsonl", length=10)  # all ten may still be sending

    Upload.objects.filter(pk=uploads[3].pk).update(updated_at=timezone.now() - timedelta(hours=2))
    upload_create(owner=member_a, filename="one-more.jsonl", length=10)

    assert Upload.objects.filter(owner=member_a).count() == MAX_OPEN_PER_USER
    assert not Upload.objects.filter(pk=uploads[3].pk).exists() and not uploads[3].part_path.exists()


def test_a_stale_view_of_the_upload_cannot_push_it_past_its_length(member_a):
    upload = upload_create(owner=member_a, filename="a.jsonl", length=10)
    stale = Upload.objects.get(pk=upload.pk)
    upload_append(upload=upload, offset=0, stream=io.BytesIO(b"01234567"), content_length=8)

    from annotation.services.uploads import UploadTooLarge

    with pytest.raises(UploadTooLarge):
        upload_append(upload=stale, offset=8, stream=io.BytesIO(b"89abcdef"), content_length=8)

    upload.refresh_from_db()
    assert upload.offset == 8 and upload.part_path.read_bytes() == b"01234567"


def test_head_tells_the_metadata_and_expiry_and_odd_digits_are_a_clear_400(api):
    created = create(api, 10, name="zeitungen.jsonl")
    head = api.head(created["Location"], **TUS)

    assert base64.b64decode(head["Upload-Metadata"].split(" ")[1]).decode() == "zeitungen.jsonl"
    assert head["Upload-Expires"].endswith("GMT") and created["Upload-Expires"] == head["Upload-Expires"]
    assert api.post("/api/uploads/", HTTP_UPLOAD_LENGTH="²", **TUS).status_code == 400


def test_a_failed_submission_keeps_the_upload_for_another_try(api, monkeypatch):
    from annotation.services import uploads

    content = jsonl({"text": t} for t in documents(3)).encode()
    created = create(api, len(content))
    patch(api, created["Location"], 0, content)

    def fails_after_storing(**kwargs):
        import shutil

        moved = kwargs["file"].temporary_file_path()  # what a storage moves into place
        shutil.move(moved, f"{moved}.moved")
        raise RuntimeError("the database went away")

    monkeypatch.setattr(uploads, "submission_create", fails_after_storing)
    with pytest.raises(RuntimeError):
        api.post("/api/submissions/", {**FIELDS, "upload": created.json()["id"]}, content_type="application/json")

    upload = Upload.objects.get()
    assert upload.is_complete and upload.part_path.read_bytes() == content  # submit again, no new upload
