"""The README's Security section: every test it cites exists, and every bullet cites one
(issue 16: "what the README's Security section promises matches what the tests check, line
by line")."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _section() -> str:
    text = (ROOT / "README.md").read_text()
    return text[text.index("## Security\n") : text.index("\n## ", text.index("## Security\n") + 5)]


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def test_every_cited_test_exists():
    section = _section()
    cited = re.findall(r"\[([^\]]*tests?[^\]]*|[a-z]+/test_[^\]]+)\]", section)
    assert cited
    last_file: Path | None = None
    checked = 0
    for group in cited:
        for ref in re.split(r",\s*|\s+and\s+", group):
            ref = ref.strip()
            m = re.match(r"^(?:(?P<file>[a-z]+/test_\w+\.py))?(?:::(?P<name>\w+))?", ref)
            if not m or not (m["file"] or m["name"]):
                continue
            if m["file"]:
                last_file = ROOT / "tests" / m["file"]
                assert last_file.is_file(), ref
            if m["name"]:
                assert last_file is not None, ref
                assert m["name"] in _tests_in(last_file), f"{ref} not in {last_file.name}"
            checked += 1
    assert checked >= 30


def test_every_security_bullet_cites_a_test():
    bullets = re.split(r"\n(?=- |\*\*)", _section())
    for b in bullets:
        if b.startswith("- ") and "](" not in b:
            assert re.search(r"\[[a-z]+/test_", b) or "the same way" in b, b[:120]
