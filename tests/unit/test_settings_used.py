"""Every ``Settings`` field does something and is documented: it is read by the product code
(outside settings.py), listed in ``.env.example`` and in the README's configuration table;
and no code asks settings (``getattr(settings, "name", default)``) for a field that does not
exist, which would silently ignore the variable a user sets."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = [
    "app.py",
    "cli.py",
    "prepare.py",
    "train_defaults.py",
    "backends",
    "tabs",
    "api",
    "guardrails",
    "tools",
]


def _product_files() -> list[Path]:
    out = []
    for name in PRODUCT:
        path = ROOT / name
        out += sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.exists() else []
    return [p for p in out if p.name != "settings.py"]


def _is_settings(expr: ast.expr) -> bool:
    """``settings``, ``self.settings``, ``deps.settings`` ... or app.py's ``s = deps.settings``."""
    text = ast.unparse(expr)
    return "settings" in text.lower() or text == "s"


def _reads() -> tuple[set[str], set[str]]:
    """(names read from a settings object, names asked of one through getattr)."""
    attrs: set[str] = set()
    asked: set[str] = set()
    for path in _product_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Load)
                and _is_settings(node.value)
            ):
                attrs.add(node.attr)
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "getattr"
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
            ):
                if _is_settings(node.args[0]):
                    attrs.add(node.args[1].value)
                    asked.add(node.args[1].value)
    return attrs, asked


def _env_name(name: str) -> str:
    alias = Settings.model_fields[name].validation_alias
    return alias.choices[0] if alias is not None else f"WB_{name.upper()}"


def test_the_scan_sees_the_product_code():
    files = {p.relative_to(ROOT).as_posix() for p in _product_files()}
    assert {"app.py", "tabs/chat.py", "api/openai_compat.py"} <= files
    attrs, _ = _reads()
    assert {"llama_threads", "remote_concurrency", "guard_pii_where"} <= attrs


def _through_methods(attrs: set[str]) -> set[str]:
    """Fields read by the Settings properties/methods that product code uses (``is_public``
    reads ``auth`` and ``space_id``)."""
    tree = ast.parse((ROOT / "settings.py").read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Settings")
    out = set(attrs)
    for fn in (n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name in attrs):
        out |= {
            a.attr for a in ast.walk(fn) if isinstance(a, ast.Attribute) and ast.unparse(a.value) == "self"
        }
    return out


def test_every_field_is_read_outside_settings():
    attrs = _through_methods(_reads()[0])
    unread = [n for n in Settings.model_fields if n not in attrs]
    assert not unread, f"Settings fields nothing reads (wire them or remove them): {unread}"


def test_every_field_is_documented_in_env_example_and_readme():
    env_example = (ROOT / ".env.example").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        env = _env_name(name)
        assert re.search(rf"^#? ?{env}=", env_example, re.M), f"{env} missing from .env.example"
        assert f"`{env}`" in readme, f"{env} missing from the README"


def test_no_code_asks_settings_for_a_field_that_does_not_exist():
    _, asked = _reads()
    fields = set(Settings.model_fields) | {"on_spaces", "is_public"}
    assert not asked - fields, f"not Settings fields: {sorted(asked - fields)}"
