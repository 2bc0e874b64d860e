"""Shared fixtures. Every test runs offline: a socket guard fails any connection that is
not to this machine (127.0.0.0/8, ::1, or a unix socket)."""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Offline for the libraries too, and for every subprocess the tests start.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["ANONYMIZED_TELEMETRY"] = "False"
os.environ.setdefault("WB_LLAMA_THREADS", "1")  # see MODELS.md: 1 thread when cores are busy
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")


class ExternalConnection(RuntimeError):
    pass


def _is_local(address: object) -> bool:
    if isinstance(address, (str, bytes)):  # unix socket path
        return True
    host = address[0] if isinstance(address, tuple) else address
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_local(address):
        raise ExternalConnection(f"test tried to connect to {address!r}: tests must stay offline")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_local(address):
        raise ExternalConnection(f"test tried to connect to {address!r}: tests must stay offline")
    return _real_connect_ex(self, address)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def shared_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repo's data dir, where `make test` assembled the shipped models."""
    return ROOT / "data"


@pytest.fixture
def settings(tmp_path: Path, shared_data_dir: Path):
    """Settings for one test: a fresh data dir that reuses the assembled models."""
    from settings import Settings
    from tests.helpers import data_dir_with_models

    data = data_dir_with_models(tmp_path / "data")
    return Settings(
        _env_file=None,
        data_dir=data,
        models_dir=tmp_path / "models",
        kb_dir=ROOT / "knowledge-base",
        llama_threads=1,
        llama_ctx=2048,
    )
