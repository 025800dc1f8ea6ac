import ast
from pathlib import Path

import pytest

INGEST = Path(__file__).resolve().parents[3] / "annotation" / "ingest"
STEPS = ["normalise", "pii", "quality", "langid", "minhash", "tokens"]


@pytest.mark.parametrize("step", STEPS)
def test_steps_import_no_django_and_no_sibling(step):
    # The steps run in ingest workers and must stay plain Python: no Django,
    # and no relative import that could pull in a module that uses it.
    tree = ast.parse((INGEST / f"{step}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0 and not node.module.startswith("django")
        elif isinstance(node, ast.Import):
            assert not any(alias.name.startswith("django") for alias in node.names)
