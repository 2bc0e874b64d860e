"""README examples run as written (a doc test).

Every ```python block of README.md that talks to the app (it contains
``http://127.0.0.1:7860``) is executed against the real app launched in-process on a free
port; only that address is replaced. The README must keep at least one ``gradio_client``
example and one ``openai`` example, so the "Use it from Python" and API sections cannot rot.
"""

from __future__ import annotations

import contextlib
import io
import re

import pytest

from tests.conftest import ROOT
from tests.helpers import data_dir_with_models, in_process_app, small_kb

pytestmark = pytest.mark.integration

APP_URL = "http://127.0.0.1:7860"
README = ROOT / "README.md"
KB_DOCS = ("products/warranty-and-support-plans.md", "company/offices.md")
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def app_examples(markdown: str) -> list[str]:
    return [code for code in BLOCK.findall(markdown) if APP_URL in code]


def run_example(code: str, base_url: str) -> str:
    """Execute one example against ``base_url``; returns what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = code.replace(APP_URL, base_url.rstrip("/"))
        # dont_inherit: the example runs as written, without this module's `from __future__` flags
        exec(compile(code, "README.md", "exec", dont_inherit=True), {"__name__": "readme"})
    return out.getvalue()


def test_example_extraction_finds_only_app_examples():
    md = f"```python\nprint(1)\n```\ntext\n```python\nClient('{APP_URL}/')\n```\n```bash\ncurl {APP_URL}\n```"
    assert app_examples(md) == [f"Client('{APP_URL}/')\n"]


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    from settings import Settings

    tmp = tmp_path_factory.mktemp("readme")
    data_dir_with_models(tmp / "data")
    small_kb(tmp / "kb", KB_DOCS)  # a small knowledge base, synced in seconds
    settings = Settings(
        _env_file=None,
        data_dir=tmp / "data",
        models_dir=tmp / "models",
        kb_dir=tmp / "kb",
        llama_threads=1,
        llama_ctx=1024,
    )
    with in_process_app(settings, api=True) as (demo, _client):
        yield demo.local_url


def test_readme_examples_run_as_written(base_url):
    examples = app_examples(README.read_text())
    assert any("gradio_client" in c for c in examples), "README needs a gradio_client example"
    assert any("openai" in c for c in examples), "README needs an openai example for /v1"
    for code in examples:
        run_example(code, base_url)
