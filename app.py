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
from pathlib import Path

import gradio as gr

from api.gradio_tuning import calm_queue, freeze_heap, lazy_session_state, lean_build
from backends import registry
from backends.base import BackendStatus
from backends.llama import LlamaRuntime
from backends.models import list_ggufs
from backends.slots import ModelSlots
from settings import Settings
from tabs import status

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
        # Chat events wait here per model: 1 per local GGUF, WB_REMOTE_CONCURRENCY per server.
        self.slots = ModelSlots(settings.remote_concurrency, max_waiting=settings.queue_max_size)
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

    def task(self, task: str, choice: str = "") -> object:
        """The backend for a pipeline task ("sentiment", "ner", ...): the picker entry
        ``choice`` (a key of ``backends.pipelines.task_choices``), else the best available one
        (models fine-tuned here > HF cache > spaCy > the shipped LLM). Cached per entry; the
        best one is chosen once per run (the picker re-scans, so new fine-tunes show there)."""
        from backends.pipelines import canonical, task_choices

        task = canonical(task)  # the table's name, also for an alias ("summarization")
        with self._lock:  # fast path: no catalog scan per request
            if ("task", task, choice) in self._cache:
                return self._cache[("task", task, choice)]
        entries = task_choices(self.settings, task)
        usable = [c for c in entries if c.available]
        entry = next((c for c in usable if c.key == choice), None) if choice else (usable or [None])[0]
        if entry is None and choice and usable:
            raise registry.UnknownBackend(f"{choice!r} is not available for {task!r}: refresh the picker")
        if entry is None:
            reasons = "; ".join(f"{c.label}: {c.reason}" for c in entries) or "none registered"
            raise registry.UnknownBackend(f"no usable backend for {task!r} ({reasons})")
        with self._lock:
            key = ("task", task, entry.key)
            if key not in self._cache:
                self._cache[key] = registry.create(
                    f"task:{task}", entry.backend, self.settings, runtime=self.runtime, model=entry.ref
                )
            self._cache[("task", task, choice)] = self._cache[key]
            return self._cache[key]

    def rag(self) -> object:
        """The RAG engine (retriever + store) over the knowledge base: a Retriever."""
        return self._get("rag", "chroma")

    def get(self, kind: str, name: str) -> object:
        """Any registered backend, e.g. ``deps.get("task:sentiment", "spacy")``."""
        return self._get(kind, name)

    def status(self) -> Sequence[BackendStatus]:
        return registry.all_status(self.settings)

    def guard_deps(self) -> object:
        """What every surface's guardrails need: the server's policy (``WB_GUARD_*``), the
        embedder (denied topics, grounding) and the NER backend (names), the last two created
        on the first request that needs them. Used by the chat tabs, ``/v1`` and MCP tools."""
        from guardrails import entities_from_task
        from guardrails.server_policy import policy_from_settings
        from guardrails.session import GuardDeps

        with self._lock:
            if ("guard", "policy") not in self._cache:
                self._cache[("guard", "policy")] = policy_from_settings(self.settings)
            policy = self._cache[("guard", "policy")]
        return GuardDeps(
            embedder=self.embedder, entities=lambda: entities_from_task(self.task("ner")), policy=policy
        )


# One function per tab: each builds its tab from the shared deps. ---------------------


def _guard_deps(deps: Deps) -> object:
    """The guardrails' backends and the server's policy for the chat tabs (``Deps.guard_deps``)."""
    return deps.guard_deps()


def _local_tab(deps: Deps) -> None:
    import os

    from backends.llama import LocalModels
    from tabs import local_chat

    s = deps.settings
    limits = local_chat.Limits(
        max_input_chars=s.max_input_chars,
        max_new_tokens=s.max_new_tokens,
        max_history_messages=s.max_history_messages,
        default_ctx=s.llama_ctx,
        default_threads=s.llama_threads,
        max_threads=max(os.cpu_count() or 1, s.llama_threads),
    )
    from backends import output_formats

    local_chat.build(
        LocalModels(deps.runtime), limits, _guard_deps(deps), formats=output_formats, slots=deps.slots
    )


def _chat_tab(deps: Deps) -> None:
    from backends import output_formats
    from tabs import chat
    from tools.builtin import OPTIONAL_TOOLS, default_toolbox

    s = deps.settings
    toolsets: list = []  # built on first use, then reused

    def get_tools() -> tuple:
        if not toolsets:
            sentiment = lambda: deps.task("sentiment")  # noqa: E731
            toolsets.append(default_toolbox(s.data_dir, rag=deps.rag, sentiment=sentiment))
        return toolsets[0].toolbox, toolsets[0].unavailable

    names = list(dict.fromkeys(["llama_cpp", "openai", s.chat_backend]))
    notes = {}
    for name in names:
        st = registry.status("chat", name, s)
        notes[name] = ("" if st.available else "⚠️ ") + st.detail
    chat.build(
        deps.chat,
        get_tools,
        backends=names,
        default_backend=s.chat_backend,
        notes=notes,
        limits=chat.Limits(s.max_input_chars, s.max_new_tokens, s.max_history_messages),
        openai_model=s.openai_model,
        tool_names=[*chat.DEFAULT_TOOLS, *OPTIONAL_TOOLS],
        guard_deps=_guard_deps(deps),
        formats=output_formats,
        slots=deps.slots,
        local_models=lambda: [(c.label, c.ref) for c in list_ggufs(Path(s.models_dir))],
    )


def _rag_tab(deps: Deps) -> None:
    from tabs import rag as rag_tab

    rag_tab.build(deps.rag, _guard_deps(deps), slots=deps.slots)


def _pipelines_tab(deps: Deps) -> None:
    from backends import pipelines as tasks
    from tabs import pipelines

    s = deps.settings
    hood = {
        "explain": lambda key, text: deps.task("sentiment", key).explain(text),
        "tokenize": lambda key, text: tasks.explore_tokenizer(s, key, text),
        "tokenizer_sources": lambda: tasks.tokenizer_sources(s),
    }
    pipelines.build(
        lambda task: tasks.task_choices(s, task),
        deps.task,
        s.max_input_chars,
        hood,
        tasks=tasks.TASKS.values(),
    )


def _finetune_tab(deps: Deps) -> None:
    from backends.finetune import SHIPPED_BASE, FinetuneConfig, JobRequest
    from tabs import finetune

    jobs = deps.get("finetune", "trainer")

    def make_request(
        *,
        path: str,
        task: str,
        name: str,
        text_column: str | None,
        label_column: str | None,
        validation_fraction: float,
        **config: object,
    ) -> JobRequest:
        cfg = FinetuneConfig(task=task, **config)  # type: ignore[arg-type]
        return JobRequest(
            path=path,
            task=task,
            name=name,
            config=cfg,
            text_column=text_column,
            label_column=label_column,
            validation_fraction=validation_fraction,
        )

    finetune.build(finetune.Runner(jobs.start, jobs.status, jobs.cancel, make_request, [SHIPPED_BASE]))
    _lab_section(deps, jobs)


def _lab_section(deps: Deps, jobs: object) -> None:
    """The model lab (LoRA -> GGUF -> quantize -> compare) under the encoder fine-tuning."""
    from tabs import finetune_lora

    lab = registry.create("finetune", "lora", deps.settings, trainer=jobs)
    finetune_lora.build(finetune_lora.LabRunner.of(lab))


def _compare_tab(deps: Deps) -> None:
    from backends.arena import VoteStore
    from backends.compare import Contenders, run_columns
    from tabs import compare

    s = deps.settings
    contenders = Contenders(s, deps.runtime, remote=lambda: deps.chat("openai"))  # type: ignore[arg-type, return-value]
    store = VoteStore(s.data_dir / "arena.sqlite3")
    compare.build(
        compare.CompareDeps(contenders, run_columns, store, s.max_input_chars, s.max_new_tokens, s.is_public)
    )


def _status_tab(deps: Deps) -> None:
    status.build(deps.status, deps.runtime.loaded)


TABS = (
    ("Local llama.cpp", "local", _local_tab),
    ("Chat + tools", "chat", _chat_tab),
    ("RAG", "rag", _rag_tab),
    ("Pipelines", "pipelines", _pipelines_tab),
    ("Fine-tune", "finetune", _finetune_tab),
    ("Compare", "compare", _compare_tab),
    ("Status", "status", _status_tab),
)


def build_app(settings: Settings, deps: Deps | None = None) -> gr.Blocks:
    deps = deps or Deps(settings)
    lazy_session_state()
    with lean_build():
        with gr.Blocks(title=TITLE) as demo:
            gr.Markdown(f"# {TITLE}\nThe practical LLM toolbox on one page. Offline by default.")
            with gr.Tabs():
                for label, tab_id, build_tab in TABS:
                    with gr.Tab(label, id=tab_id):
                        build_tab(deps)
        demo.queue(
            default_concurrency_limit=settings.concurrency_limit,
            max_size=settings.queue_max_size,
            api_open=not settings.is_public,  # public: events only through the queue
        )
    calm_queue(demo)
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
    from pathlib import Path  # local: this function's edits stay inside it

    # Absolute paths: Gradio compares them with the resolved file path (case-insensitively).
    # Secrets are never served, even if a tab later allows the folder around them.
    blocked = [settings.data_dir, settings.kb_dir, settings.models_dir, Path(".env"), Path(".git")]
    return dict(
        server_name=settings.host,
        server_port=settings.port,
        share=settings.share,
        auth=auth,
        show_error=not settings.is_public,
        max_file_size="20mb",  # uploads above this get 413; file types are checked per component
        blocked_paths=[str(p.resolve()) for p in blocked],
        enable_monitoring=False,  # /monitoring shows traffic; off (None would enable it)
        run_history=not settings.is_public,  # runs (chat text) are not kept in shared browsers
        mcp_server=settings.mcp,
        theme=gr.themes.Soft(),
    )


def api_kwargs(demo: gr.Blocks, deps: Deps) -> dict:
    """``launch()`` kwargs that serve the HTTP APIs on the UI's own server and port.

    ``/healthz`` and the OpenAI-compatible ``/v1`` go in as extra routes of the FastAPI app
    that ``launch()`` builds (``app_kwargs``), so ``--share``, ``--auth`` and
    ``launch(prevent_thread_lock=True)`` in tests work as before (why: ``api/__init__.py``).
    With ``--mcp``, only the allow-listed events become MCP tools (``api/mcp.py``).
    Use: ``demo.launch(**launch_kwargs(settings), **api_kwargs(demo, deps))``.
    """
    from starlette.middleware import Middleware

    from api import api_routes
    from api.mcp import McpKeyGuard, mcp_lifespan, restrict_mcp_tools

    app_kwargs: dict = {"routes": api_routes(deps)}
    if deps.settings.mcp:
        restrict_mcp_tools(demo)
        app_kwargs["lifespan"] = mcp_lifespan(demo, deps.settings.auth_pair())
        app_kwargs["middleware"] = [Middleware(McpKeyGuard, settings=deps.settings)]
    return {"app_kwargs": app_kwargs}


def _check_guard_policy(settings: Settings) -> None:
    """A bad ``WB_GUARD_*`` value (an unknown place, a broken regex) stops the start with a
    sentence, before any page is built."""
    from guardrails.server_policy import policy_from_settings

    policy_from_settings(settings)


def main(argv: Sequence[str] | None = None) -> None:
    from api.deploy import adapt_for_spaces, quiet_telemetry

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_telemetry()  # before any Blocks exists: gradio reads it when building and launching
    settings = adapt_for_spaces(settings_from_args(parse_args(argv)))
    try:
        kwargs = launch_kwargs(settings)
        _check_guard_policy(settings)
    except (PublicWithoutAuth, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
    deps = Deps(settings)
    freeze_heap()
    demo = build_app(settings, deps)
    freeze_heap()
    demo.launch(**kwargs, **api_kwargs(demo, deps))


if __name__ == "__main__":
    main()
