"""The README gets a newcomer from clone to a user and a tiny model; the project's files speak of the project."""

import re
from pathlib import Path

from django.core.management import get_commands

ROOT = Path(__file__).resolve().parent.parent


def test_readme_names_the_port_and_the_first_commands():
    readme = (ROOT / "README.md").read_text()
    assert "PORT" in readme and "createsuperuser" in readme and "create_base_model tiny --tiny" in readme
    for command in re.findall(r"manage\.py (\w+)", readme):
        assert command in get_commands(), command


def test_scripts_and_readme_speak_of_the_project_not_a_workplace():
    for path in [ROOT / "README.md", *sorted((ROOT / "bin").iterdir())]:
        assert "workplace" not in path.read_text().lower(), path
