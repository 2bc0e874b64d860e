"""The MCP allow-list: which events become tools, their descriptions and names."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from api.mcp import MCP_TOOLS, name_tools_by_api_name, restrict_mcp_tools


def _demo() -> gr.Blocks:
    def classify(text: str) -> str:
        return text

    def fine_tune(text: str) -> str:
        return text

    def hidden(text: str) -> str:
        return text

    def documented(text: str) -> str:
        return text

    with gr.Blocks() as demo:
        box = gr.Textbox()
        out = gr.Textbox()
        gr.Button("a").click(classify, box, out, api_name="sentiment")
        gr.Button("b").click(fine_tune, box, out, api_name="finetune_start")
        gr.Button("c").click(hidden, box, out, api_name=False)
        gr.Button("d").click(documented, box, out, api_name="ner", api_description="Own words.")
    return demo


def test_only_allow_listed_events_stay_public():
    demo = _demo()
    kept = restrict_mcp_tools(demo)
    assert sorted(kept) == ["ner", "sentiment"]
    info = demo.get_api_info()["named_endpoints"]  # what Gradio's MCP server turns into tools
    assert set(info) == {"/sentiment", "/ner"}
    every = demo.get_api_info(all_endpoints=True)["named_endpoints"]
    assert "/finetune_start" in every  # still callable by gradio_client, just not a tool


def test_descriptions_come_from_the_allow_list_unless_the_tab_wrote_one():
    demo = _demo()
    restrict_mcp_tools(demo)
    info = demo.get_api_info()["named_endpoints"]
    assert info["/sentiment"]["description"] == MCP_TOOLS["sentiment"]
    assert info["/ner"]["description"] == "Own words."


def test_every_allowed_tool_has_a_real_description():
    for name, text in MCP_TOOLS.items():
        assert name.isidentifier() and len(text) > 40 and text.endswith("."), name


def test_tools_are_renamed_after_their_api_name():
    mapping = {"classify": "/sentiment", "refresh": "/status"}
    server = SimpleNamespace(tool_to_endpoint=mapping, tool_prefix="")
    renamed = name_tools_by_api_name(SimpleNamespace(mcp_server_obj=server))
    assert renamed == {"sentiment": "/sentiment", "status": "/status"} == server.tool_to_endpoint
    assert name_tools_by_api_name(SimpleNamespace(mcp_server_obj=None)) == {}
