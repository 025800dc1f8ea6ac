"""Evaluation suites as their pages show them: who may see them, and what each holds per language."""

from __future__ import annotations

import json
from pathlib import Path

from django.http import Http404

from annotation.review_selectors import languages_led_by
from training.models import EvaluationSuite

SAMPLE_ITEMS = 3


def may_manage_suites(user) -> bool:
    """Staff, and language leads (who add suites for their languages)."""
    return bool(user.is_authenticated and (user.is_staff or languages_led_by(user).exists()))


def access_evaluation_suite(user, suite_id) -> EvaluationSuite:
    """The suite for staff and language leads; 404 for anyone else and for a missing one."""
    if not may_manage_suites(user):
        raise Http404("No such suite.")
    try:
        return EvaluationSuite.objects.get(pk=suite_id)
    except EvaluationSuite.DoesNotExist:
        raise Http404("No such suite.")


def suite_contents(suite: EvaluationSuite) -> list[dict]:
    """Per ``<lang>.jsonl``: how many multiple-choice items, preference pairs and perplexity documents, and the
    first few lines."""
    rows = []
    for path in sorted(Path(suite.path).glob("*.jsonl")):
        items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        rows.append({
            "language": path.stem, "items": sum(1 for i in items if "question" in i),
            "pairs": sum(1 for i in items if "chosen" in i), "docs": sum(1 for i in items if "text" in i),
            "sample": [_with_prompt_text(item) for item in items[:SAMPLE_ITEMS]],
        })  # fmt: skip
    return rows


def _with_prompt_text(item: dict) -> dict:
    """A preference pair's prompt as one line to show: the string, or a conversation's last turn."""
    prompt = item.get("prompt")
    if isinstance(prompt, list) and prompt and isinstance(prompt[-1], dict):
        return {**item, "prompt_text": str(prompt[-1].get("content", ""))}
    return {**item, "prompt_text": prompt} if isinstance(prompt, str) else item
