"""LLM Workbench: the composition root.

``build_app(settings)`` asks ``backends.registry`` for the backends each tab needs and
passes them into ``tabs.<name>.build(...)``; ``main()`` parses flags and launches.
Nothing heavy is imported or loaded here: models load on first use.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

import gradio as gr

from backends import registry
from backends.base import BackendStatus
from backends.llama_cpp import LlamaRuntime
from settings import Settings
from tabs import placeholder, status

log = logging.getLogger("workbench")

TITLE = "LLM Workbench"


class PublicWithoutAuth(SystemExit):
    pass


def build_app(settings: Settings) -> gr.Blocks:
    runtime = LlamaRuntime(settings)

    def get_status() -> Sequence[BackendStatus]:
        return registry.all_status(settings)

    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"# {TITLE}\nThe practical LLM toolbox on one page. Offline by default.")
        with gr.Tabs():
            with gr.Tab("Local llama.cpp", id="local"):
                placeholder.build("Local llama.cpp", "Chat with GGUF models through llama-cpp-python.")
            with gr.Tab("Chat + tools", id="chat"):
                placeholder.build("Chat + tools", "A streaming assistant that calls tools.")
            with gr.Tab("RAG", id="rag"):
                placeholder.build("RAG", "Chat over the documents in knowledge-base/ with sources.")
            with gr.Tab("Pipelines", id="pipelines"):
                placeholder.build("Pipelines", "Sentiment, entities, translation and more.")
            with gr.Tab("Fine-tune", id="finetune"):
                placeholder.build("Fine-tune", "Fine-tune an encoder on your labelled data.")
            with gr.Tab("Status", id="status"):
                status.build(get_status, runtime.loaded)
    demo.queue(
        default_concurrency_limit=settings.concurrency_limit,
        max_size=settings.queue_max_size,
    )
    return demo


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="app.py", description=f"{TITLE}: start the web app.")
    p.add_argument("--host", help="interface to bind (default 127.0.0.1; WB_HOST)")
    p.add_argument("--port", type=int, help="port (default 7860; WB_PORT)")
    p.add_argument(
        "--share", action="store_true", default=None, help="public gradio.live link (needs --auth)"
    )
    p.add_argument("--auth", help="user:password required to open the app (WB_AUTH)")
    p.add_argument("--mcp", action="store_true", default=None, help="also serve the MCP endpoint")
    return p.parse_args(argv)


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    settings = Settings(**overrides)
    if settings.on_spaces:  # Spaces: bind every interface, never a share link
        settings = settings.model_copy(update={"host": "0.0.0.0", "share": False})
    return settings


def launch_kwargs(settings: Settings) -> dict:
    """Everything ``Blocks.launch`` needs; refuses to go public without auth."""
    auth = settings.auth_pair()
    if settings.is_public and auth is None and not settings.on_spaces:
        raise PublicWithoutAuth(
            "Refusing to serve publicly without a password: add --auth user:password "
            "(or set WB_AUTH) when using --share or a host other than 127.0.0.1."
        )
    data = settings.data_dir.resolve()
    return dict(
        server_name=settings.host,
        server_port=settings.port,
        share=settings.share,
        auth=auth,
        show_error=not settings.is_public,
        max_file_size="20mb",
        blocked_paths=[str(data), str(settings.kb_dir.resolve()), str(settings.models_dir.resolve()), ".env"],
        mcp_server=settings.mcp,
        theme=gr.themes.Soft(),
    )


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings_from_args(parse_args(argv))
    try:
        kwargs = launch_kwargs(settings)
    except (PublicWithoutAuth, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
    build_app(settings).launch(**kwargs)


if __name__ == "__main__":
    main()
