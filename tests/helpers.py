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
