"""Deployment adaptations decided at start-up: library telemetry off, Hugging Face Spaces.

``settings.py`` is the only module that *reads* the environment. Libraries, though, take
some switches only from environment variables, so :func:`quiet_telemetry` *writes* the few
that turn their telemetry off (``setdefault``: an operator's explicit value wins).
"""

from __future__ import annotations

import os
from typing import Any

TELEMETRY_OFF = {
    "GRADIO_ANALYTICS_ENABLED": "False",  # gradio reads it per call
    "HF_HUB_DISABLE_TELEMETRY": "1",  # huggingface_hub
    "ANONYMIZED_TELEMETRY": "False",  # chromadb (posthog)
}

# Free CPU Spaces have 2 vCPUs shared by every visitor: one model run at a time per event,
# a short queue (people see their position), and 2 llama.cpp threads.
SPACES_LIMITS = {"concurrency_limit": 1, "queue_max_size": 16}


def quiet_telemetry() -> None:
    for key, value in TELEMETRY_OFF.items():
        os.environ.setdefault(key, value)


def adapt_for_spaces(settings: Any) -> Any:
    """On Spaces (``SPACE_ID`` set): bind 0.0.0.0, never a share link, smaller queues.

    Limits the operator set lower are kept; everywhere else the settings pass through.
    """
    if not settings.on_spaces:
        return settings
    update: dict[str, Any] = {"host": "0.0.0.0", "share": False}
    for key, cap in SPACES_LIMITS.items():
        update[key] = min(getattr(settings, key), cap)
    return settings.model_copy(update=update)
