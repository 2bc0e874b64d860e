"""`python app.py --help` and the refusal to go public without auth, as a user sees them."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT


def _run(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("WB_AUTH", "SPACE_ID")}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "app.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env
    )


def test_help_lists_the_flags():
    out = _run("--help")
    assert out.returncode == 0
    for flag in ("--host", "--port", "--share", "--auth"):
        assert flag in out.stdout


def test_share_without_auth_is_refused_with_a_sentence():
    out = _run("--share")
    assert out.returncode != 0
    assert "--auth" in out.stderr and "Traceback" not in out.stderr


def test_public_host_without_auth_is_refused():
    out = _run("--host", "0.0.0.0")
    assert out.returncode != 0 and "WB_AUTH" in out.stderr
