"""Backends by name: plain dicts of name -> factory(settings), filled by a decorator.

Each kind ("chat", "embedder", "task:ner", ...) has its own table. Beside a factory, a backend
may register ``status(settings)``, which says whether it can work *without* loading a model
(the Status tab, ``/healthz``), and ``choices(settings)``, the entries it offers in a model
picker (the Pipelines tab: ``backends.pipelines.task_choices``).

Nobody keeps a list of backend modules: :func:`load_all` imports every module of the
``backends`` package and its sub-packages once, and the ones that call :func:`register` are
in the tables. A new backend is one new module. Importing stays cheap because backend modules
import their heavy libraries (torch, transformers, llama_cpp, chromadb ...) inside the
factories (``tests/unit/test_registry_discovery.py`` checks both).
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from backends.base import BackendStatus

if TYPE_CHECKING:
    from settings import Settings

log = logging.getLogger(__name__)

Factory = Callable[..., Any]
StatusFn = Callable[["Settings"], BackendStatus]
ChoicesFn = Callable[["Settings"], list[Any]]

_FACTORIES: dict[str, dict[str, Factory]] = {}
_STATUS: dict[str, dict[str, StatusFn]] = {}
_CHOICES: dict[str, dict[str, ChoicesFn]] = {}
_LOADED: set[str] = set()  # packages already walked
_LOAD_LOCK = threading.RLock()


class UnknownBackend(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


def register(
    kind: str, name: str, *, status: StatusFn | None = None, choices: ChoicesFn | None = None
) -> Callable[[Factory], Factory]:
    def deco(factory: Factory) -> Factory:
        _FACTORIES.setdefault(kind, {})[name] = factory
        if status is not None:
            _STATUS.setdefault(kind, {})[name] = status
        if choices is not None:
            _CHOICES.setdefault(kind, {})[name] = choices
        return factory

    return deco


def load_all(package: str = "backends") -> None:
    """Import every module of ``package`` and its sub-packages, once (later calls return at
    once). A module whose third-party import is missing is skipped with a warning, so one
    missing optional library never takes the other backends down."""
    if package in _LOADED:
        return
    with _LOAD_LOCK:
        if package in _LOADED:
            return
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}.", onerror=_skip):
            try:
                importlib.import_module(info.name)
            except ModuleNotFoundError as exc:
                if (exc.name or "").split(".")[0] == package:
                    raise  # our own import is broken: a bug, not a missing library
                log.warning("backend module %s skipped: %s", info.name, exc)
        _LOADED.add(package)


def _skip(name: str) -> None:
    log.warning("backend package %s could not be imported", name)


def names(kind: str) -> list[str]:
    load_all()
    return sorted(_FACTORIES.get(kind, {}))


def create(kind: str, name: str, settings: Settings, **deps: Any) -> Any:
    """Build backend ``name`` of ``kind``. ``deps`` are shared objects from the composition
    root (e.g. ``runtime=`` the one LlamaRuntime); a factory takes the ones it needs."""
    load_all()
    table = _FACTORIES.get(kind, {})
    if name not in table:
        valid = ", ".join(sorted(table)) or "none"
        raise UnknownBackend(f"unknown {kind} backend {name!r}; valid names: {valid}")
    return table[name](settings, **deps)


def status(kind: str, name: str, settings: Settings) -> BackendStatus:
    load_all()
    fn = _STATUS.get(kind, {}).get(name)
    if fn is None:
        known = name in _FACTORIES.get(kind, {})
        return BackendStatus(kind, name, known, "registered" if known else "not registered")
    try:
        return fn(settings)
    except Exception as exc:  # a status probe must never take the page down
        return BackendStatus(kind, name, False, f"status check failed: {exc}")


def choices(kind: str, settings: Settings) -> list[Any]:
    """The picker entries every backend of ``kind`` offers (in name order; a backend whose
    listing fails is left out, with a warning in the log)."""
    load_all()
    out: list[Any] = []
    for name, fn in sorted(_CHOICES.get(kind, {}).items()):
        try:
            out += fn(settings)
        except Exception:  # one backend's broken listing must not empty the picker
            log.warning("listing the %s choices of %s failed", kind, name, exc_info=True)
    return out


def all_status(settings: Settings) -> list[BackendStatus]:
    load_all()
    out = []
    for kind in sorted(_FACTORIES):
        for name in sorted(_FACTORIES[kind]):
            if name == "fake":
                continue
            out.append(status(kind, name, settings))
    return out
