"""A real S3-compatible server for tests: moto's, in a thread, on 127.0.0.1 at a free port.

``s3_endpoint`` starts it once per session; ``object_store`` gives each test
a fresh bucket and points this process's environment (and so a job's child
process) at it, as a GPU worker's environment would be. Import both
fixtures into a test module, or a conftest, to use them.
"""

import logging
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

KEYS = {"AWS_ACCESS_KEY_ID": "test-key-id", "AWS_SECRET_ACCESS_KEY": "test-secret-never-in-a-spec",
        "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
PREFIX = "training"


@dataclass
class ObjectStore:
    endpoint: str
    bucket: str
    client: object  # a boto3 S3 client, for setting up and looking
    cache: Path  # OCCIPORTAL_JOB_CACHE

    @property
    def root(self) -> str:
        return f"s3://{self.bucket}/{PREFIX}"

    def keys(self, prefix: str = "") -> dict[str, int]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=f"{PREFIX}/{prefix}")
        return {item["Key"][len(PREFIX) + 1 :]: item["Size"] for page in pages for item in page.get("Contents", [])}

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=f"{PREFIX}/{key}")["Body"].read()

    def write(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=f"{PREFIX}/{key}", Body=data)


@pytest.fixture(scope="session")
def s3_endpoint():
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def object_store(s3_endpoint, monkeypatch, tmp_path) -> ObjectStore:
    bucket = f"occiportal-{uuid.uuid4().hex[:8]}"
    env = {**KEYS, "OCCIPORTAL_S3_ENDPOINT_URL": s3_endpoint, "OCCIPORTAL_RUN_STORE_BUCKET": bucket,
           "OCCIPORTAL_RUN_STORE_PREFIX": PREFIX, "OCCIPORTAL_JOB_CACHE": str(tmp_path / "cache")}  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                          aws_access_key_id=KEYS["AWS_ACCESS_KEY_ID"], aws_secret_access_key=KEYS["AWS_SECRET_ACCESS_KEY"])  # fmt: skip
    client.create_bucket(Bucket=bucket)
    return ObjectStore(endpoint=s3_endpoint, bucket=bucket, client=client, cache=tmp_path / "cache")
