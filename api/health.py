"""``GET /healthz``: is the server up, and which backends can work (nothing is loaded).

Load balancers and Spaces call it without credentials, so it is always answered. When the
API needs a key and the caller did not send it, the answer has only the overall state and
each backend's availability, not the details (they can name files and hosts).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api.auth import authorized


def health_payload(deps: Any, *, details: bool) -> dict[str, Any]:
    settings = deps.settings
    backends = []
    for s in deps.status():
        row: dict[str, Any] = {"kind": s.kind, "name": s.name, "available": s.available}
        if details:
            row["detail"] = s.detail
        backends.append(row)
    out: dict[str, Any] = {
        "status": "ok",
        "backends": backends,
        "deployment": {
            "spaces": settings.on_spaces,
            "mcp": settings.mcp,
            "concurrency_limit": settings.concurrency_limit,
            "queue_max_size": settings.queue_max_size,
        },
    }
    loaded = getattr(getattr(deps, "runtime", None), "loaded", None)
    if details and callable(loaded):
        out["loaded_models"] = loaded()
    return out


def health_route(deps: Any) -> Route:
    async def healthz(request: Request) -> JSONResponse:
        from starlette.concurrency import run_in_threadpool

        details = authorized(deps.settings, request.headers.get("authorization"))
        payload = await run_in_threadpool(health_payload, deps, details=details)
        return JSONResponse(payload)

    return Route("/healthz", healthz, methods=["GET"], name="healthz")
