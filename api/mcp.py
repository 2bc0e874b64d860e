"""Which events the MCP server (``--mcp``) exposes as tools, and how they are described.

Gradio makes every *public* named event an MCP tool, named after its Python function. We
want a short, safe allow-list with stable names, so before launch :func:`restrict_mcp_tools`

- keeps the events whose ``api_name`` is in :data:`MCP_TOOLS` public, with the description
  below (unless the tab set its own ``api_description``), and
- turns every other public event "undocumented" (Gradio's own mechanism: hidden from the API
  page and from MCP, still callable by ``gradio_client`` under its ``api_name``);

and at server start (when Gradio has built its MCP server) :func:`name_tools_by_api_name`
names each tool after its ``api_name`` instead of the function name.
Events that change things (fine-tuning, syncing the knowledge base, chat with tools that need
approval) are deliberately not tools: an MCP client could run them without a human.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

from api.auth import authorized
from api.errors import ApiError
from backends.pipelines.tasks import TASKS

log = logging.getLogger(__name__)

MCP_PATH = "/gradio_api/mcp"

# The Pipelines tasks that are tools describe themselves in the task table.
MCP_TOOLS: dict[str, str] = {name: spec.tool for name, spec in TASKS.items() if spec.tool} | {
    "rag_retrieve": (
        "Search the workbench knowledge base (company documents: policies, products, people) "
        "and return the most relevant passages with their source files. Read-only."
    ),
    "status": (
        "List the workbench's backends and whether each can work on this machine, with the "
        "reason when not, and which models are loaded. Read-only; loads nothing."
    ),
}


def restrict_mcp_tools(demo: Any, allowed: dict[str, str] | None = None) -> list[str]:
    """Keep only ``allowed`` public events visible to MCP; returns the api_names kept."""
    allowed = MCP_TOOLS if allowed is None else allowed
    kept = []
    for fn in demo.fns.values():
        if fn.api_visibility != "public" or not fn.api_name:
            continue
        if fn.api_name in allowed:
            if fn.api_description is None:
                fn.api_description = allowed[fn.api_name]
            kept.append(fn.api_name)
        else:
            fn.api_visibility = "undocumented"
    missing = sorted(set(allowed) - set(kept))
    if missing:
        log.info("MCP: no event for %s yet", ", ".join(missing))
    return kept


def name_tools_by_api_name(demo: Any) -> dict[str, str]:
    """Rename the MCP tools of a launched ``demo`` after their ``api_name`` (stable names)."""
    server = getattr(demo, "mcp_server_obj", None)
    mapping = getattr(server, "tool_to_endpoint", None)
    if not isinstance(mapping, dict):
        return {}
    prefix = getattr(server, "tool_prefix", "")
    renamed = {prefix + re.sub(r"[^a-zA-Z0-9_]", "_", e.lstrip("/")): e for e in mapping.values()}
    server.tool_to_endpoint = renamed
    return renamed


def log_tools_in(demo: Any, auth: tuple[str, str]) -> bool:
    """With ``--auth``, let the MCP server's internal client log in, so tool calls work.

    Gradio 6.31's MCP server runs each tool through a ``gradio_client.Client`` on the app's own
    URL, created without credentials: behind a login every call failed with "credentials were
    not provided". The client is still created lazily, now with the app's user and password.
    """
    server = getattr(demo, "mcp_server_obj", None)
    original = getattr(server, "_get_or_create_client", None)
    if server is None or original is None:
        return False

    def client_with_login() -> Any:
        if getattr(server, "_client_instance", None) is None and server.local_url:
            from gradio_client import Client

            server._client_instance = Client(
                server.local_url,
                auth=auth,
                download_files=False,
                verbose=False,
                analytics_enabled=False,
                _skip_components=False,
                headers={"x-gradio-user": "mcp"},
            )
        return original()

    server._get_or_create_client = client_with_login
    return True


class McpKeyGuard:
    """ASGI middleware: with a key configured, ``/gradio_api/mcp`` needs ``Bearer <key>``
    (Gradio serves MCP without its login, so tools would be listed to anyone)."""

    def __init__(self, app: Any, settings: Any) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(MCP_PATH):
            header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
            if not authorized(self.settings, header or None):
                msg = "MCP needs 'Authorization: Bearer <key>' (WB_API_KEY or the WB_AUTH password)."
                await ApiError(401, msg, code="invalid_api_key").response()(scope, receive, send)
                return
        await self.app(scope, receive, send)


def mcp_lifespan(
    demo: Any, auth: tuple[str, str] | None = None
) -> Callable[[Any], contextlib.AbstractAsyncContextManager[None]]:
    """A FastAPI lifespan that, once Gradio has created its MCP server, names the tools after
    their api_name and (with ``auth``) lets tool calls log in."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        tools = name_tools_by_api_name(demo)
        if tools:
            log.info("MCP tools: %s", ", ".join(sorted(tools)))
        if auth is not None:
            log_tools_in(demo, auth)
        yield

    return lifespan
