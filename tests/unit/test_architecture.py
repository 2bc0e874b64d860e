"""Import direction: tabs get backends as arguments and never read the environment;
backends and tools never import gradio; only settings.py reads environment variables."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWED_FROM_BACKENDS_IN_TABS = {"backends.base"}


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _reads_env(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv", "putenv"}:
            if isinstance(node.value, ast.Name) and node.value.id == "os":
                found.append(f"{path.name}:{node.lineno} os.{node.attr}")
    return found


def test_tabs_do_not_import_concrete_backends_or_settings():
    bad = []
    for path in _modules("tabs"):
        for name in _imports(path):
            top = name.split(".")[0]
            if top == "backends" and name.count(".") >= 1:
                module = ".".join(name.split(".")[:2])
                if module not in ALLOWED_FROM_BACKENDS_IN_TABS:
                    bad.append(f"{path.name} imports {name}")
            if top == "settings":
                bad.append(f"{path.name} imports settings")
    assert not bad, bad


def test_backends_and_tools_do_not_import_gradio():
    bad = [
        f"{p.relative_to(ROOT)} imports {n}"
        for folder in ("backends", "tools")
        for p in _modules(folder)
        for n in _imports(p)
        if n.split(".")[0] in {"gradio", "gradio_client"}
    ]
    assert not bad, bad


def test_only_settings_reads_the_environment():
    offenders = []
    for folder in ("tabs", "backends", "tools"):
        for p in _modules(folder):
            offenders += _reads_env(p)
    offenders += _reads_env(ROOT / "app.py")
    assert not offenders, offenders


def test_the_checks_see_the_files():
    # Guards the guard: the walks above must actually find modules to check.
    assert _modules("tabs") and _modules("backends")
    assert "gradio" in _imports(ROOT / "tabs" / "status.py")
