"""HTTP APIs served by the same server as the Gradio UI.

How they are mounted (``api_routes`` -> ``Blocks.launch(app_kwargs={"routes": ...})``):
Gradio builds its FastAPI app inside ``launch()`` and passes ``app_kwargs`` to it, so extra
Starlette routes given there are served by the same uvicorn server, on the same port, with
the same process and ``Deps``. This keeps ``python app.py``, ``--share`` (the share tunnel
forwards the whole server, ``/v1`` included), ``--auth`` (Gradio's login still guards the UI;
``/v1`` checks a bearer key itself) and in-process tests (``launch(prevent_thread_lock=True)``)
working unchanged. The alternatives were worse: ``gr.mount_gradio_app`` on our own FastAPI
needs our own uvicorn, which loses ``share=True`` and ``launch()``'s port search; adding routes
to ``demo.app`` after ``launch()`` races the first requests.

Not tested here: ``--share`` itself (no network); the tunnel forwards every path of the local
server, so ``/v1`` and ``/healthz`` are reachable through the share link too, with the key.
With ``--mcp`` Gradio's MCP endpoint gets the same key check (``api.mcp.McpKeyGuard``).
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Mount

from api.health import health_route


def api_routes(deps: Any, catalog: Any = None) -> list[BaseRoute]:
    """``/healthz`` and the OpenAI-compatible ``/v1`` app, ready for ``app_kwargs["routes"]``."""
    from api.openai_compat import create_v1_app

    return [health_route(deps), Mount("/v1", app=create_v1_app(deps, catalog))]
