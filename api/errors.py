"""Errors in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.

OpenAI clients (the ``openai`` package, LangChain, ...) read this shape and raise typed
exceptions from the status code (400 BadRequestError, 401 AuthenticationError, 404
NotFoundError, ...), so every error of the ``/v1`` API goes through :class:`ApiError`.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse


class ApiError(Exception):
    """An error the caller can act on; ``message`` is shown as it is (never a traceback)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def model_not_found(model: str, valid: list[str]) -> ApiError:
    return ApiError(
        404,
        f"The model {model!r} does not exist here. Valid models: {', '.join(valid) or 'none'}.",
        code="model_not_found",
        param="model",
    )


def unavailable(message: str) -> ApiError:
    return ApiError(503, message, type="server_error", code="backend_unavailable")


def server_error(message: str = "The server failed to answer; see the server log.") -> ApiError:
    return ApiError(500, message, type="server_error", code="server_error")
