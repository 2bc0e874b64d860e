"""``--mcp``: the app's MCP server over streamable HTTP on 127.0.0.1, driven by the ``mcp``
package's client. Only allow-listed events are tools, named after their api_name."""

from __future__ import annotations

import pytest

from tests.helpers import free_port
from tests.helpers import mcp_session as _with_session

pytestmark = pytest.mark.integration


def _launch(tmp_path_factory, **extra):
    import app
    from settings import Settings
    from tests.conftest import ROOT

    tmp = tmp_path_factory.mktemp("mcp")
    settings = Settings(
        _env_file=None,
        data_dir=tmp / "data",
        models_dir=tmp / "models",
        kb_dir=ROOT / "knowledge-base",
        llama_threads=1,
        port=free_port(),
        mcp=True,
        **extra,
    )
    deps = app.Deps(settings)
    demo = app.build_app(settings, deps)
    kwargs = {**app.launch_kwargs(settings), **app.api_kwargs(demo, deps)}
    demo.launch(prevent_thread_lock=True, quiet=True, **kwargs)
    return demo


@pytest.fixture(scope="module")
def mcp_app(tmp_path_factory):
    demo = _launch(tmp_path_factory)
    try:
        yield demo
    finally:
        demo.close()


def test_only_allow_listed_events_are_tools(mcp_app):
    from api.mcp import MCP_TOOLS

    url = mcp_app.local_url.rstrip("/") + "/gradio_api/mcp/"
    tools = _with_session(url, lambda s: s.list_tools()).tools
    names = {t.name for t in tools}
    assert "status" in names and names <= set(MCP_TOOLS), names
    others = {f.api_name for f in mcp_app.fns.values() if f.api_name and f.api_name not in MCP_TOOLS}
    assert others, "the app should have events that are not tools (else this test checks nothing)"
    assert not names & others
    for t in tools:
        assert len(t.description) > 40, t
        # No tool takes a model, path or file: nothing an MCP client sends can name a file on
        # the server (README Security, public mode).
        params = set((t.inputSchema or {}).get("properties", {}))
        assert not params & {"model", "path", "file", "ref", "key", "source", "base_model"}, (t.name, params)


def test_a_tool_can_be_called(mcp_app):
    url = mcp_app.local_url.rstrip("/") + "/gradio_api/mcp/"
    result = _with_session(url, lambda s: s.call_tool("status", {}))
    text = " ".join(getattr(c, "text", "") for c in result.content)
    assert not result.isError, text
    assert "llama_cpp" in text and "Loaded models" in text


def test_with_auth_mcp_needs_the_key_and_then_tools_work(tmp_path_factory):
    import httpx

    demo = _launch(tmp_path_factory, auth="ann:s3cret-pw")
    try:
        url = demo.local_url.rstrip("/") + "/gradio_api/mcp/"
        r = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
        key = {"Authorization": "Bearer s3cret-pw"}
        result = _with_session(url, lambda s: s.call_tool("status", {}), headers=key)
        text = " ".join(getattr(c, "text", "") for c in result.content)
        assert not result.isError and "llama_cpp" in text, text
    finally:
        demo.close()
