"""Real tokens from the shipped GGUFs: catches the llama.cpp segfault regression (a crash
here kills the worker, so the test runs generation in a subprocess and checks its exit)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.integration

SCRIPT = r"""
import json, sys
from backends.base import GenParams, Message
from backends.llama import LlamaChat, LlamaRuntime
from settings import Settings
s = Settings(_env_file=None, data_dir=sys.argv[2], llama_threads=1, llama_ctx=512)
chat = LlamaChat(LlamaRuntime(s), sys.argv[1])
parts = list(chat.stream([Message("user", "Say hello in one word.")],
                         params=GenParams(temperature=0.0, max_new_tokens=8, seed=1)))
print(json.dumps({"text": "".join(d.text for d in parts),
                  "completion": parts[-1].usage.completion_tokens}))
"""


@pytest.mark.parametrize("ref", ["qwen2.5-coder-0.5b-instruct", "smollm2-135m-instruct"])
def test_shipped_gguf_generates_tokens(ref, shared_data_dir):
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, ref, str(shared_data_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"exit {proc.returncode} (139 = segfault): {proc.stderr[-2000:]}"
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["completion"] > 0 and out["text"].strip(), out
