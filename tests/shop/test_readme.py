"""The README keeps the newcomer's two commands at the top and its links true."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _readme() -> str:
    return (ROOT / "README.md").read_text()


def test_the_two_commands_are_the_first_section_of_the_readme():
    first_section = _readme().split("\n## ")[1]
    assert first_section.startswith("Set-up")
    assert "make run" in first_section and "make test" in first_section
    assert ".demo-admin" in first_section  # where the admin password is kept


def test_every_local_link_of_the_readme_and_docs_points_to_a_file():
    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert broken == []


def test_the_readme_stays_short_enough_to_read_in_minutes():
    assert len(_readme().splitlines()) < 250
