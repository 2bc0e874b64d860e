"""LLM Workbench: the composition root.

``build_app(settings)`` asks ``backends.registry`` for the backends each tab needs and
passes them into ``tabs.<name>.build(...)``; ``main()`` parses flags and launches.
Nothing heavy is imported or loaded here: models load on first use.
"""

from __future__ import annotations

import argparse
import logging
import threading
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


class Deps:
    """Shared backends, created on first use (never at start-up) and then reused.

    One LlamaRuntime serves every tab, so one GGUF is loaded once and guarded by one lock.
    Tabs receive these objects (or the bound methods that make them) as arguments.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runtime = LlamaRuntime(settings)
        self._cache: dict[tuple, object] = {}
        self._lock = threading.Lock()

    def _get(self, kind: str, name: str) -> object:
        with self._lock:
            key = (kind, name)
            if key not in self._cache:
                self._cache[key] = registry.create(kind, name, self.settings, runtime=self.runtime, deps=self)
            return self._cache[key]

    def chat(self, name: str | None = None) -> object:
        return self._get("chat", name or self.settings.chat_backend)

    def embedder(self) -> object:
        return self._get("embedder", "sentence_transformers")

    def task(self, task: str) -> object:
        """The best available backend for a pipeline task ("sentiment", "ner", ...)."""
        raise registry.UnknownBackend(f"no backend for task {task!r} yet")

    def rag(self) -> object:
        """The RAG engine (retriever + store) over the knowledge base."""
        raise registry.UnknownBackend("the RAG backend is not built yet")

    def get(self, kind: str, name: str) -> object:
        """Any registered backend, e.g. ``deps.get("task:sentiment", "spacy")``."""
        return self._get(kind, name)

    def status(self) -> Sequence[BackendStatus]:
        return registry.all_status(self.settings)


# One function per tab: each builds its tab from the shared deps. ---------------------


def _local_tab(deps: Deps) -> None:
    placeholder.build("Local llama.cpp", "Chat with GGUF models through llama-cpp-python.")


def _chat_tab(deps: Deps) -> None:
    placeholder.build("Chat + tools", "A streaming assistant that calls tools.")


def _rag_tab(deps: Deps) -> None:
    placeholder.build("RAG", "Chat over the documents in knowledge-base/ with sources.")


def _pipelines_tab(deps: Deps) -> None:
    placeholder.build("Pipelines", "Sentiment, entities, translation and more.")


def _finetune_tab(deps: Deps) -> None:
    placeholder.build("Fine-tune", "Fine-tune an encoder on your labelled data.")


def _status_tab(deps: Deps) -> None:
    status.build(deps.status, deps.runtime.loaded)


TABS = (
    ("Local llama.cpp", "local", _local_tab),
    ("Chat + tools", "chat", _chat_tab),
    ("RAG", "rag", _rag_tab),
    ("Pipelines", "pipelines", _pipelines_tab),
    ("Fine-tune", "finetune", _finetune_tab),
    ("Status", "status", _status_tab),
)


def build_app(settings: Settings, deps: Deps | None = None) -> gr.Blocks:
    deps = deps or Deps(settings)
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"# {TITLE}\nThe practical LLM toolbox on one page. Offline by default.")
        with gr.Tabs():
            for label, tab_id, build_tab in TABS:
                with gr.Tab(label, id=tab_id):
                    build_tab(deps)
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
