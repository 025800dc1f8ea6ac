import ast
from pathlib import Path

import pytest

INGEST = Path(__file__).resolve().parents[3] / "annotation" / "ingest"
STEPS = ["normalise", "pii", "quality", "ngrams", "langid", "minhash", "tokens", "words"]


@pytest.mark.parametrize("step", STEPS)
def test_steps_import_no_django_and_no_sibling(step):
    # The steps run in ingest workers and must stay plain Python: no Django,
    # and no relative import that could pull in a module that uses it. A step
    # may use another step (the shared word split), named in full.
    tree = ast.parse((INGEST / f"{step}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0 and not node.module.startswith("django")
            if node.module.startswith("annotation"):
                assert node.module.removeprefix("annotation.ingest.") in STEPS
        elif isinstance(node, ast.Import):
            assert not any(alias.name.startswith("django") for alias in node.names)
