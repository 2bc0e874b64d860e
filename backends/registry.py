"""Backends by name: plain dicts of name -> factory(settings), filled by a decorator.

Each kind ("chat", "embedder", ...) has its own table. A factory may also have a
``status(settings)`` function registered beside it that says whether it can work,
*without* loading a model (used by the Status tab and ``/healthz``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from backends.base import BackendStatus

Factory = Callable[..., Any]
StatusFn = Callable[[Any], BackendStatus]

_FACTORIES: dict[str, dict[str, Factory]] = {}
_STATUS: dict[str, dict[str, StatusFn]] = {}

# Modules that register backends. Importing them is cheap: heavy imports are inside factories.
BACKEND_MODULES = (
    "backends.fakes",
    "backends.llama.chat",
    "backends.embeddings",
    "backends.openai_chat",
    "backends.rag",
    "backends.hf_pipelines",
    "backends.spacy_ner",
    "backends.llm_tasks",
    "backends.finetune",
    "backends.lora_jobs",
)


class UnknownBackend(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


def register(kind: str, name: str, *, status: StatusFn | None = None) -> Callable[[Factory], Factory]:
    def deco(factory: Factory) -> Factory:
        _FACTORIES.setdefault(kind, {})[name] = factory
        if status is not None:
            _STATUS.setdefault(kind, {})[name] = status
        return factory

    return deco


def load_all() -> None:
    for module in BACKEND_MODULES:
        importlib.import_module(module)


def names(kind: str) -> list[str]:
    load_all()
    return sorted(_FACTORIES.get(kind, {}))


def create(kind: str, name: str, settings: Any, **deps: Any) -> Any:
    """Build backend ``name`` of ``kind``. ``deps`` are shared objects from the composition
    root (e.g. ``runtime=`` the one LlamaRuntime); a factory takes the ones it needs."""
    load_all()
    table = _FACTORIES.get(kind, {})
    if name not in table:
        valid = ", ".join(sorted(table)) or "none"
        raise UnknownBackend(f"unknown {kind} backend {name!r}; valid names: {valid}")
    return table[name](settings, **deps)


def status(kind: str, name: str, settings: Any) -> BackendStatus:
    load_all()
    fn = _STATUS.get(kind, {}).get(name)
    if fn is None:
        known = name in _FACTORIES.get(kind, {})
        return BackendStatus(kind, name, known, "registered" if known else "not registered")
    try:
        return fn(settings)
    except Exception as exc:  # a status probe must never take the page down
        return BackendStatus(kind, name, False, f"status check failed: {exc}")


def all_status(settings: Any) -> list[BackendStatus]:
    load_all()
    out = []
    for kind in sorted(_FACTORIES):
        for name in sorted(_FACTORIES[kind]):
            if name == "fake":
                continue
            out.append(status(kind, name, settings))
    return out
