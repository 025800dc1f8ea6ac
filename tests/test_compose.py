"""compose.yaml is a valid Compose file and has the production stack's shape.

Validated against the Compose Specification's JSON Schema, vendored in
tests/data (see its README), so no Docker is needed.
"""

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PORTAL_SERVICES = ["web", "worker", "gpu-worker", "beat", "flower"]


@pytest.fixture(scope="module")
def text():
    return (ROOT / "compose.yaml").read_text()


@pytest.fixture(scope="module")
def compose(text):
    return yaml.safe_load(text)


@pytest.fixture(scope="module")
def services(compose):
    return compose["services"]


def command(service):
    return " ".join(service["command"])


def test_compose_file_is_valid_against_the_compose_specification(compose):
    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)

    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose), key=lambda e: list(e.path))

    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_the_stack_has_its_services(services):
    assert {"postgres", "redis", "minio", "web", "worker", "gpu-worker", "beat", "flower"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:16")


def test_portal_services_share_one_anchor(text, services):
    assert "x-portal: &portal" in text
    assert text.count("<<: *portal\n") >= len(PORTAL_SERVICES)
    for name in PORTAL_SERVICES:
        assert services[name]["restart"] == "unless-stopped", name
        assert services[name]["environment"]["CELERY_BROKER_URL"] == "redis://redis:6379/0", name
        assert services[name]["environment"]["OCCIPORTAL_ENV"] == "production", name


def test_the_portal_sends_mail_and_shares_rate_limit_counters(services):
    for name in ["migrate", "web", "worker"]:
        environment = services[name]["environment"]
        assert environment["EMAIL_HOST"].startswith("${EMAIL_HOST:?"), name
        assert environment["OCCIPORTAL_CACHE_URL"] == "redis://redis:6379/1", name


@pytest.mark.parametrize("name", ["postgres", "redis", "web"])
def test_healthchecks(services, name):
    check = services[name]["healthcheck"]
    assert check["test"][0] in ("CMD", "CMD-SHELL")


def test_healthcheck_commands(services):
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["redis"]["healthcheck"]["test"][1:] == ["redis-cli", "ping"]
    assert "http://127.0.0.1:8000/" in services["web"]["healthcheck"]["test"][-1]


def test_stateful_services_keep_data_in_named_volumes(compose, services):
    named = set(compose["volumes"])
    for name, path in [("postgres", "/var/lib/postgresql/data"), ("redis", "/data"), ("minio", "/data")]:
        mounts = dict(volume.split(":", 1) for volume in services[name]["volumes"])
        assert path in mounts.values(), name
        assert {source for source, target in mounts.items() if target == path} <= named


def test_web_waits_for_a_healthy_database_and_broker(services):
    depends = services["web"]["depends_on"]
    assert depends["postgres"]["condition"] == depends["redis"]["condition"] == "service_healthy"
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert command(services["web"]).startswith("gunicorn occiportal.wsgi")


def test_secrets_come_from_the_environment(services):
    env = services["web"]["environment"]
    assert env["DJANGO_SECRET_KEY"].startswith("${DJANGO_SECRET_KEY:?")
    assert "${POSTGRES_PASSWORD:?" in env["DATABASE_URL"]
    assert env["DATABASE_URL"].startswith("postgres://")


def test_workers_consume_their_queues(services):
    assert command(services["worker"]) == "celery -A occiportal worker -Q default --loglevel INFO"
    gpu = command(services["gpu-worker"])
    assert "-Q gpu " in gpu and "default" not in gpu
    assert "--concurrency 1" in gpu and "--prefetch-multiplier 1" in gpu
    assert command(services["beat"]).startswith("celery -A occiportal beat")
    assert command(services["flower"]).startswith("celery -A occiportal flower")
    assert any("5555" in str(port) for port in services["flower"]["ports"])


def test_gpu_worker_reserves_a_gpu_and_holds_no_database_credentials(services):
    gpu = services["gpu-worker"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert "DATABASE_URL" not in gpu["environment"]
    assert not [name for name in gpu["environment"] if name.startswith("DJANGO_")]  # no key, no hosts
    assert set(gpu["depends_on"]) == {"redis", "minio-init"}
    assert gpu["build"]["dockerfile"] == "Dockerfile.gpu"


def test_the_gpu_queue_is_served_by_the_django_free_app(services):
    assert command(services["gpu-worker"]).startswith("celery -A training.gpu_worker worker -Q gpu ")
    assert 'CMD ["celery", "-A", "training.gpu_worker", "worker", "-Q", "gpu"' in (ROOT / "Dockerfile.gpu").read_text()


def test_flower_is_not_open(services):
    assert "FLOWER_BASIC_AUTH" in services["flower"]["environment"]
    assert all(str(port).startswith("127.0.0.1:") for port in services["flower"]["ports"])


def test_dockerfiles():
    portal = (ROOT / "Dockerfile").read_text()
    gpu = (ROOT / "Dockerfile.gpu").read_text()
    assert portal.startswith("#") and "FROM python:3.11-slim" in portal
    assert "pip install . " in portal and "[train]" not in portal
    assert "FROM python:3.11-slim" in gpu and 'pip install ".[train]"' in gpu
    assert "USER occiportal" in portal and "USER occiportal" in gpu


def test_the_schema_catches_a_mistake(compose):
    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text())
    broken = {**compose, "services": {**compose["services"], "web": {**compose["services"]["web"], "helthcheck": {}}}}

    assert not jsonschema.Draft7Validator(schema).is_valid(broken)
