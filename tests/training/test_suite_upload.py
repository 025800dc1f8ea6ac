"""Evaluation suites uploaded in the browser: whole or not at all; staff, or leads for their languages."""

import io
import json
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from occiportal.models import LanguageRole
from training.models import EvaluationSuite

from .run_helpers import make_base_model

pytestmark = pytest.mark.django_db

ITEM = {"question": "Welche Farbe hat der Himmel?", "choices": ["blau", "grün"], "answer": 0}


def jsonl(*rows) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def suites_folder() -> list[str]:
    folder = Path(settings.DATA_DIR) / "suites"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_staff_upload_an_archive_and_see_items_and_documents_per_language(client, staff, german, french):
    client.force_login(staff)
    archive = zipped({"belebele/de.jsonl": jsonl(ITEM, ITEM, {"text": "Ein Text."}), "belebele/fr.jsonl": jsonl({"text": "Un texte."})})
    answer = client.post(reverse("suite_list"), {
        "name": "belebele", "provenance": "machine-translated", "description": "FLORES passages",
        "files": SimpleUploadedFile("belebele.zip", archive),
    })  # fmt: skip
    suite = EvaluationSuite.objects.get(name="belebele")
    assert answer.url == reverse("suite_detail", args=[suite.pk]) and suite.provenance == "machine-translated"
    assert sorted(p.name for p in Path(suite.path).iterdir()) == ["de.jsonl", "fr.jsonl"]
    page = client.get(answer.url).content.decode()
    german_row = page.split('data-language="de"')[1]
    assert "data-n-items>2<" in german_row and "data-n-docs>1<" in german_row and "Welche Farbe" in german_row


def test_a_bad_line_registers_nothing_and_leaves_no_files(client, staff, german, french):
    client.force_login(staff)
    answer = client.post(reverse("suite_list"), {
        "name": "broken", "provenance": "native",
        "files": [SimpleUploadedFile("de.jsonl", jsonl(ITEM)), SimpleUploadedFile("fr.jsonl", b'{"question": "x"}\n')],
    })  # fmt: skip
    assert answer.status_code == 400 and "fr.jsonl, line 1" in answer.content.decode()
    assert not EvaluationSuite.objects.exists() and suites_folder() == []


def test_a_failure_while_registering_rolls_back_the_row_and_removes_the_files(staff, german, monkeypatch):
    from training.services import suite_upload

    def refuse(self, target):
        raise OSError("disk full")

    monkeypatch.setattr(suite_upload.Path, "rename", refuse)
    with pytest.raises(OSError):
        suite_upload.evaluation_suite_upload(user=staff, name="half", provenance="native", files=[("de.jsonl", jsonl(ITEM))])
    assert not EvaluationSuite.objects.exists() and suites_folder() == []


def test_a_lead_uploads_for_their_languages_only(client, member_a, member_b, german, french):
    LanguageRole.objects.create(user=member_a, language=german, role=LanguageRole.Role.LEAD)
    client.force_login(member_a)
    files = {"name": "mine", "provenance": "native", "files": SimpleUploadedFile("de.jsonl", jsonl(ITEM))}
    assert client.post(reverse("suite_list"), files).status_code == 302
    files = {"name": "theirs", "provenance": "native", "files": SimpleUploadedFile("fr.jsonl", jsonl(ITEM))}
    assert client.post(reverse("suite_list"), files).status_code == 403
    assert list(EvaluationSuite.objects.values_list("name", flat=True)) == ["mine"]
    client.force_login(member_b)
    assert client.get(reverse("suite_list")).status_code == 404
    assert client.get(reverse("suite_detail", args=[EvaluationSuite.objects.get().pk])).status_code == 404


def test_a_refused_evaluate_leaves_no_suite_behind(tmp_path):
    make_base_model("tiny")
    folder = tmp_path / "outside"  # outside the storage roots: the evaluation is refused
    folder.mkdir()
    (folder / "de.jsonl").write_bytes(jsonl(ITEM))
    with pytest.raises(CommandError):
        call_command("evaluate", "--model", "tiny", "--suite", str(folder))
    assert not EvaluationSuite.objects.exists()


@pytest.mark.parametrize("filename", ["suite.zip", "suite.tar.gz"])
def test_an_unreadable_archive_answers_400(client, staff, filename):
    client.force_login(staff)
    answer = client.post(reverse("suite_list"), {"name": "x", "provenance": "native",
                                                 "files": SimpleUploadedFile(filename, b"not an archive")})
    assert answer.status_code == 400 and "not a readable archive" in answer.content.decode()
    assert suites_folder() == []


def test_an_archive_declaring_more_than_the_limit_is_refused_before_it_is_unpacked(staff, german, monkeypatch):
    from training.services import suite_upload

    monkeypatch.setattr(suite_upload, "MAX_SUITE_BYTES", 10)
    archive = zipped({"de.jsonl": jsonl(ITEM)})
    monkeypatch.setattr(zipfile.ZipFile, "read", lambda *a: pytest.fail("unpacked before its size was checked"))
    with pytest.raises(ValidationError, match="at most"):
        suite_upload.evaluation_suite_upload(user=staff, name="big", provenance="native",
                                             files=[("big.zip", archive)])
    assert suites_folder() == []


def test_a_preference_suite_is_accepted_and_a_pair_without_a_rejected_answer_is_not(client, staff, german):
    client.force_login(staff)
    pair = {"prompt": [{"role": "user", "content": "Wie ist das Wetter?"}], "chosen": "Sonnig.", "rejected": ["Grün."]}
    answer = client.post(reverse("suite_list"), {
        "name": "prefs", "provenance": "native",
        "files": SimpleUploadedFile("de.jsonl", jsonl(pair, {"prompt": "Hallo?", "chosen": "Guten Tag.", "rejected": "Nein."})),
    })  # fmt: skip
    page = client.get(answer.url).content.decode()
    assert "data-n-pairs>2<" in page and "Wie ist das Wetter? — ✓ Sonnig." in page
    for bad in ({"prompt": "P", "chosen": "A", "rejected": []}, {"prompt": "P", "chosen": "A", "rejected": "A"}):
        answer = client.post(reverse("suite_list"), {
            "name": "bad", "provenance": "native", "files": SimpleUploadedFile("de.jsonl", jsonl(bad)),
        })  # fmt: skip
        assert answer.status_code == 400 and '{"prompt", "chosen", "rejected"}' in answer.content.decode().replace("&quot;", '"')


def test_a_multiple_choice_item_with_an_empty_choice_is_refused_with_its_line(client, staff, german):
    """acc_norm divides each choice's score by its length: an empty choice is no answer to score."""
    client.force_login(staff)
    empty = {"question": "Welche Farbe hat der Himmel?", "choices": ["blau", "  "], "answer": 0}
    answer = client.post(reverse("suite_list"), {
        "name": "empty", "provenance": "native", "files": SimpleUploadedFile("de.jsonl", jsonl(ITEM, empty)),
    })  # fmt: skip
    assert answer.status_code == 400 and "line 2" in answer.content.decode()
    assert not EvaluationSuite.objects.filter(name="empty").exists()
