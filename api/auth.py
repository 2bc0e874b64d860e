"""One key for the HTTP API, derived from the same settings as the UI's login.

The UI is protected by ``WB_AUTH="user:password"``. The API is called by programs, which send
``Authorization: Bearer <key>``: the key is ``WB_API_KEY`` when that setting exists and is
set, otherwise the password of ``WB_AUTH``. With neither set (the default, bound to
127.0.0.1) the API is open, exactly like the UI.
"""

from __future__ import annotations

import hmac
from typing import Any

from api.errors import ApiError


def expected_key(settings: Any) -> str | None:
    key = getattr(settings, "api_key", None)
    if key is not None:
        value = key.get_secret_value() if hasattr(key, "get_secret_value") else str(key)
        if value:
            return value
    pair = settings.auth_pair()
    return pair[1] if pair else None


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def authorized(settings: Any, header: str | None) -> bool:
    key = expected_key(settings)
    if key is None:
        return True
    given = bearer(header)
    return given is not None and hmac.compare_digest(given.encode(), key.encode())


def require_key(settings: Any, header: str | None) -> None:
    if not authorized(settings, header):
        msg = (
            "Missing API key: send 'Authorization: Bearer <key>' (the key is WB_API_KEY, or the "
            "password of WB_AUTH)."
            if bearer(header) is None
            else "Incorrect API key provided."
        )
        raise ApiError(401, msg, code="invalid_api_key")
