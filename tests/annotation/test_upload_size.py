"""An oversize multipart upload is refused by its Content-Length, before a byte of it is read."""

import io

import pytest
from django.urls import reverse

MiB = 1024**2
BOUNDARY = "occiportal-test"


class CountingInput(io.BytesIO):
    """A request body that remembers how much of it was read."""

    bytes_read = 0

    def read(self, size=-1):
        data = super().read(size)
        self.bytes_read += len(data)
        return data

    def readline(self, size=-1):
        line = super().readline(size)
        self.bytes_read += len(line)
        return line


def multipart(size: int) -> bytes:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="partner"\r\n\r\nalpha\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + b"x" * size + f"\r\n--{BOUNDARY}--\r\n".encode()


@pytest.mark.parametrize("url", [reverse("submission_new"), "/api/submissions/"])
def test_a_part_over_the_limit_is_refused_unread(client, member_a, settings, url):
    settings.INGEST = {**settings.INGEST, "MAX_UPLOAD_BYTES": 10 * MiB}
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = MiB
    client.force_login(member_a)
    body = multipart(12 * MiB)
    stream = CountingInput(body)

    response = client.generic(
        "POST", url, body, content_type=f"multipart/form-data; boundary={BOUNDARY}", **{"wsgi.input": stream}
    )

    assert response.status_code == 413
    assert "at most" in response.content.decode()
    assert stream.bytes_read == 0
