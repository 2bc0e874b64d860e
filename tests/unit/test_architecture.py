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


HEAVY_LIBRARIES = {"llama_cpp", "chromadb", "transformers", "sentence_transformers"}
# bench/ measures the app against the raw library in the same run, and tests/ compare with the
# raw libraries (e.g. a fine-tune's outputs): both import them on purpose.
HEAVY_EXEMPT = {"backends", "bench", "tests"}
LLAMA_INTERNALS = {
    "create_completion",
    "create_chat_completion",
    "tokenize",
    "input_ids",
    "n_tokens",
    "extras",
}


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def _project_modules_outside(exempt: set[str]) -> list[Path]:
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if parts[0] in exempt or parts[0].startswith(".") or parts[0] in {"data", "weights", "__pycache__"}:
            continue
        out.append(path)
    return out


def test_heavy_model_libraries_are_imported_only_in_backends():
    """llama_cpp, chromadb, transformers and sentence_transformers stay behind backends/
    (app.py, settings, cli, prepare, tabs, api, tools and guardrails reach them through it)."""
    checked = _project_modules_outside(HEAVY_EXEMPT)
    bad = [
        f"{p.relative_to(ROOT)} imports {name}"
        for p in checked
        for name in sorted(_top_level_imports(p) & HEAVY_LIBRARIES)
    ]
    assert not bad, bad
    names = {str(p.relative_to(ROOT)) for p in checked}
    assert {
        "app.py",
        "prepare.py",
        "api/openai_compat.py",
        "tabs/local_chat.py",
    } <= names  # the walk sees them


def test_tabs_reach_llama_cpp_only_through_the_chat_model_protocol():
    """No tab imports llama.cpp or backends.llama, nor touches a Llama's internals; the Local
    tab asks its engine for a ChatModel and streams from it like every other surface."""
    import typing

    from backends.base import ChatModel
    from tabs import local_chat

    bad = []
    for path in _modules("tabs"):
        if {"llama_cpp"} & _top_level_imports(path):
            bad.append(f"{path.name} imports llama_cpp")
        bad += [f"{path.name} imports {n}" for n in _imports(path) if n.startswith("backends.llama")]
        tree = ast.parse(path.read_text(), filename=str(path))
        bad += [
            f"{path.name}:{node.lineno} uses .{node.attr}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr in LLAMA_INTERNALS
        ]
    assert not bad, bad
    assert typing.get_type_hints(local_chat.LocalEngine.chat)["return"] is ChatModel
