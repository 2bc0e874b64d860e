"""The registry finds backends itself: a new backend is one new module, no list to edit, and
finding them stays cheap (no heavy library is imported until a factory runs)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import backends
from backends import registry
from backends.pipelines import task_choices
from settings import Settings

ROOT = Path(__file__).resolve().parents[2]
HEAVY = (
    "torch",
    "transformers",
    "sentence_transformers",
    "llama_cpp",
    "chromadb",
    "spacy",
    "peft",
    "onnxruntime",
    "openai",
)


def test_a_new_module_in_a_new_sub_package_registers_without_editing_a_list(tmp_path, monkeypatch):
    pkg = tmp_path / "toyplugins"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "toy_ner.py").write_text(
        textwrap.dedent(
            """
            from backends.pipelines.tasks import TaskChoice
            from backends.registry import register

            ENTRY = TaskChoice("toy:tagger", "toy tagger (a plug-in)", "toy", None, True, rank=5)

            @register("task:ner", "toy", choices=lambda settings: [ENTRY])
            def make(settings, **deps):
                return "a toy tagger"
            """
        )
    )
    monkeypatch.setattr(backends, "__path__", [*backends.__path__, str(tmp_path)])
    monkeypatch.setattr(registry, "_LOADED", set())  # as in a fresh process
    try:
        assert "toy" in registry.names("task:ner")
        assert registry.create("task:ner", "toy", Settings(_env_file=None)) == "a toy tagger"
        s = Settings(_env_file=None, data_dir=tmp_path, hf_hub_offline=True)
        assert "toy:tagger" in [c.key for c in task_choices(s, "ner")]  # the picker offers it
    finally:
        for table in (registry._FACTORIES, registry._CHOICES):
            table.get("task:ner", {}).pop("toy", None)
        for name in [m for m in sys.modules if m.startswith("backends.toyplugins")]:
            del sys.modules[name]


def _registering_modules() -> set[str]:
    """Dotted names of the modules under backends/ that call ``register(...)``."""
    found = set()
    for path in (ROOT / "backends").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
        if any(getattr(c.func, "id", getattr(c.func, "attr", "")) == "register" for c in calls):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found - {"backends.registry"}


def test_every_module_that_registers_is_imported_and_nothing_heavy_is():
    """In a fresh interpreter: load_all() imports every registering module, and not one heavy
    library (those load inside the factories, on first use)."""
    modules = _registering_modules()
    assert {"backends.fakes", "backends.pipelines.hf", "backends.finetune.jobs"} <= modules
    code = (
        "import json, sys; from backends import registry; registry.load_all(); "
        f"heavy = [h for h in {HEAVY!r} if h in sys.modules]; "
        "print(json.dumps({'mods': sorted(sys.modules), 'heavy': heavy}))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert modules <= set(loaded["mods"]), modules - set(loaded["mods"])
    assert loaded["heavy"] == [], f"importing the backends pulled in {loaded['heavy']}"


def test_no_hand_kept_module_list():
    assert not hasattr(registry, "BACKEND_MODULES")


def test_factories_of_the_pipelines_and_finetune_packages_take_typed_settings():
    """``settings: Settings``, not ``Any``: a field that does not exist is a type error, not a
    setting silently ignored (issue 12)."""
    untyped = []
    for folder in ("backends/pipelines", "backends/finetune"):
        for path in (ROOT / folder).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    for arg in node.args.args:
                        if arg.arg == "settings" and (
                            arg.annotation is None or ast.unparse(arg.annotation) != "Settings"
                        ):
                            untyped.append(f"{path.name}:{node.lineno} {node.name}")
    assert not untyped, untyped
