"""Evaluation suites uploaded in the browser: ``<lang>.jsonl`` files, loose or in a zip or tar archive.

A suite is registered whole or not at all: the files are checked and written
to a hidden folder first, and the row and the folder's final name appear in
one transaction, so a refused upload leaves neither files nor a row behind.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import uuid
import zipfile
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from annotation.review_selectors import languages_led_by
from training.models import EvaluationSuite

MAX_SUITE_BYTES = 200 * 1024**2


def evaluation_suite_upload(
    *, user, name: str, provenance: str, files: list[tuple[str, bytes]], description: str = ""
) -> EvaluationSuite:
    """Register suite ``name`` from uploaded ``(filename, content)`` pairs; staff, or leads of every language in it.

    Each ``<lang>.jsonl`` line is ``{"text"}``, ``{"question", "choices", "answer"}`` or a preference pair
    ``{"prompt", "chosen", "rejected"}`` (training/jobs/evaluate.py reads them).
    Raises ValidationError (naming the file and line) or PermissionDenied; either way nothing is left.
    """
    suite = EvaluationSuite(name=name, path="-", provenance=provenance, description=description)
    suite.full_clean(exclude=["path"])
    by_language = _by_language(_expanded(files))
    led = set(languages_led_by(user).filter(code__in=by_language).values_list("code", flat=True))
    if unknown := sorted(set(by_language) - led):
        if user.is_staff:
            raise ValidationError(_("Not a language of the portal: %(codes)s.") % {"codes": ", ".join(unknown)})
        raise PermissionDenied("only staff and the languages' leads add suites")
    for language, content in by_language.items():
        _check_lines(language, content)
    return _stored(suite, by_language)


def _expanded(files: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Loose files as they are; a ``.zip``, ``.tar``, ``.tar.gz`` or ``.tgz`` unpacked (in memory, names only)."""
    out = []
    for filename, content in files:
        try:
            out += _unpacked(filename, content)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError):
            raise ValidationError(_("%(file)s is not a readable archive.") % {"file": filename})
    _check_size(sum(len(content) for _, content in out))
    return out


def _unpacked(filename: str, content: bytes) -> list[tuple[str, bytes]]:
    # Sizes are checked as the archive declares them, before anything is unpacked: no archive bomb fills memory.
    lower = filename.lower()
    if lower.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            members = [i for i in archive.infolist() if not i.is_dir()]
            _check_size(sum(i.file_size for i in members))
            return [(i.filename, archive.read(i)) for i in members]
    if lower.endswith((".tar", ".tar.gz", ".tgz")):
        with tarfile.open(fileobj=io.BytesIO(content)) as archive:
            members = [m for m in archive.getmembers() if m.isfile()]
            _check_size(sum(m.size for m in members))
            return [(m.name, archive.extractfile(m).read()) for m in members]
    return [(filename, content)]


def _check_size(total: int) -> None:
    if total > MAX_SUITE_BYTES:
        raise ValidationError(_("A suite may hold at most %(mb)s MB.") % {"mb": MAX_SUITE_BYTES // 1024**2})


def _by_language(files: list[tuple[str, bytes]]) -> dict[str, bytes]:
    by_language = {}
    for filename, content in files:
        path = PurePosixPath(filename.replace("\\", "/"))
        if path.name.startswith(".") or path.suffix != ".jsonl":
            continue  # a folder's README or an archive's metadata: not part of the suite
        if path.stem in by_language:
            raise ValidationError(_("%(file)s appears twice.") % {"file": path.name})
        by_language[path.stem] = content
    if not by_language:
        raise ValidationError(_("No <lang>.jsonl file in the upload."))
    return by_language


def _check_lines(language: str, content: bytes) -> None:
    try:
        lines = content.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise ValidationError(_("%(language)s.jsonl is not UTF-8.") % {"language": language})
    for number, line in enumerate(lines, 1):
        if line.strip() and not _is_item(line):
            raise ValidationError(
                _('%(language)s.jsonl, line %(line)s: expected {"text"}, {"question", "choices", "answer"} '
                  'or {"prompt", "chosen", "rejected"}.')
                % {"language": language, "line": number}
            )


def _is_item(line: str) -> bool:
    try:
        item = json.loads(line)
    except ValueError:
        return False
    if not isinstance(item, dict):
        return False
    if isinstance(item.get("text"), str):
        return True
    if "chosen" in item:
        return _is_pair(item)
    choices, answer = item.get("choices"), item.get("answer")
    return (isinstance(item.get("question"), str) and isinstance(choices, list) and len(choices) >= 2
            and all(isinstance(c, str) and c.strip() for c in choices)  # acc_norm divides by a choice's length
            and type(answer) is int and 0 <= answer < len(choices))


def _is_pair(item: dict) -> bool:
    prompt, chosen, rejected = item.get("prompt"), item.get("chosen"), item.get("rejected")
    rejected = [rejected] if isinstance(rejected, str) else rejected
    turns = isinstance(prompt, list) and prompt and all(
        isinstance(t, dict) and isinstance(t.get("role"), str) and isinstance(t.get("content"), str) for t in prompt
    )  # fmt: skip
    return bool(
        (isinstance(prompt, str) or turns) and isinstance(chosen, str) and isinstance(rejected, list) and rejected
        and all(isinstance(r, str) and r != chosen for r in rejected)
    )  # fmt: skip


def _stored(suite: EvaluationSuite, by_language: dict[str, bytes]) -> EvaluationSuite:
    root = Path(settings.DATA_DIR) / "suites"
    folder, partial = root / suite.name, root / f".{suite.name}.{uuid.uuid4().hex}.partial"
    if folder.exists():
        raise ValidationError(_("A suite named %(name)s exists already.") % {"name": suite.name})
    partial.mkdir(parents=True)
    try:
        for language, content in by_language.items():
            (partial / f"{language}.jsonl").write_bytes(content)
        with transaction.atomic():
            suite.path = str(folder.resolve())
            suite.save()
            partial.rename(folder)  # last: a failure here rolls the row back
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return suite
