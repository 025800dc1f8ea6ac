"""A run's manifest pins its base model's revision: a hub commit or tag, or the hash of a local folder's files."""

from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from training.jobs.contract import Start, local_model_revision
from training.models import EvaluationSuite
from training.services.run_events import run_event_record
from training.services.runs import base_model_create, evaluation_run_create

from .run_helpers import make_run

pytestmark = pytest.mark.django_db
COMMIT = "26bca36bde8333b5d7f72e9ed20ccda6a618af24"


def model_folder(settings, name="local", weights=b"weights") -> Path:
    """What the hash reads (its content need not load: the portal never loads a model)."""
    folder = Path(settings.DATA_DIR) / "models" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text('{"model_type": "mistral"}')
    (folder / "model.safetensors").write_bytes(weights)
    (folder / "tokenizer.json").write_text("{}")
    return folder


def suite(settings) -> EvaluationSuite:
    folder = Path(settings.DATA_DIR) / "suites" / "mini"
    folder.mkdir(parents=True)
    (folder / "de.jsonl").write_text('{"text": "Hallo"}\n')
    return EvaluationSuite.objects.create(name="mini", path=str(folder))


def test_a_local_base_model_is_pinned_to_the_hash_of_its_files(settings):
    folder = model_folder(settings)
    base = base_model_create(name="local", source=str(folder))
    assert base.revision == local_model_revision(folder) and base.revision.startswith("sha256:")

    (folder / "model.safetensors").write_bytes(b"other weights")
    assert local_model_revision(folder) != base.revision
    with pytest.raises(ValidationError, match="hash of its files"):
        base_model_create(name="local-tagged", source=str(folder), revision="v1")
    with pytest.raises(ValidationError, match="safetensors"):
        base_model_create(name="empty", source=str(Path(settings.DATA_DIR) / "nothing-here"))


def test_the_run_manifest_and_job_spec_pin_the_base_models_revision(settings, staff):
    base = base_model_create(name="local", source=str(model_folder(settings)))
    run = make_run(user=staff, base_model=base)
    assert run.manifest["base_model"] == {"name": "local", "source": base.source, "revision": base.revision}
    assert run.manifest["job_spec"]["base_model_revision"] == base.revision


def test_a_hub_model_is_pinned_to_the_commit_given_and_so_is_its_evaluation(settings, staff):
    base = base_model_create(name="mistral-7b", source="mistralai/Mistral-7B-v0.1", revision=COMMIT)
    run = make_run(user=staff, base_model=base)
    assert run.manifest["job_spec"]["base_model_revision"] == COMMIT

    mini = suite(settings)
    of_base = evaluation_run_create(created_by=staff, model_path=base.source, suites=[mini], base_model=base)
    assert of_base.manifest["job_spec"]["base_model_revision"] == COMMIT
    checkpoint = str(Path(settings.DATA_DIR) / "runs" / "1" / "final")
    of_run = evaluation_run_create(created_by=staff, model_path=checkpoint, suites=[mini], training_run=run)
    assert of_run.manifest["job_spec"]["base_model_revision"] == ""  # the job hashes the checkpoint it loads


def test_the_run_page_shows_the_revision_the_job_loaded(settings, client, staff):
    base = base_model_create(name="mistral-7b", source="mistralai/Mistral-7B-v0.1", revision="v0.1")
    run = make_run(user=staff, base_model=base)
    client.force_login(staff)
    assert 'title="v0.1"' in client.get(reverse("run_detail", args=[run.pk])).content.decode()

    run_event_record(run_id=run.job_id, seq=0, event=Start(kind="train", attempt=1, base_model_revision=COMMIT).to_dict())
    run.refresh_from_db()
    assert run.manifest["start"]["base_model_revision"] == COMMIT
    assert f'title="{COMMIT}"' in client.get(reverse("run_detail", args=[run.pk])).content.decode()
