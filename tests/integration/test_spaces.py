"""On Hugging Face Spaces (``SPACE_ID`` set) ``python app.py`` binds every interface, never
opens a share link (even with ``--share`` and no password), and uses short queues."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import running_app

pytestmark = pytest.mark.integration


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            addr, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                found.add(addr)
    return found


def _healthz(url: str) -> dict:
    with urllib.request.urlopen(url + "/healthz", timeout=10) as r:
        return json.loads(r.read())


def test_spaces_adapts_binding_share_and_queues():
    env = {"SPACE_ID": "someone/llm-workbench", "WB_HOST": "127.0.0.1"}
    with running_app(env=env, args=("--share",)) as (url, proc, _):
        body = _healthz(url)
        port = int(url.rsplit(":", 1)[1])
        addrs = _listening_addresses(port)
        assert proc.poll() is None
    assert body["deployment"]["spaces"] is True
    assert body["deployment"]["concurrency_limit"] == 1 and body["deployment"]["queue_max_size"] == 16
    assert "00000000" in addrs or "00000000000000000000000000000000" in addrs, addrs  # 0.0.0.0 / ::


def test_without_spaces_the_same_command_refuses_a_public_link():
    import subprocess
    import sys

    from tests.helpers import ROOT

    proc = subprocess.run(
        [sys.executable, "app.py", "--share"],
        cwd=ROOT,
        env={**__import__("os").environ, "SPACE_ID": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and "--auth" in proc.stderr, proc.stderr[-2000:]


def test_locally_it_binds_loopback_only():
    with running_app(env={"SPACE_ID": ""}) as (url, _, _):
        body = _healthz(url)
        addrs = _listening_addresses(int(url.rsplit(":", 1)[1]))
    assert body["deployment"]["spaces"] is False
    assert addrs == {"0100007F"}, addrs  # 127.0.0.1
