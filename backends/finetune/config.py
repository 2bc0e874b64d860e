"""What a fine-tuning run is given and what it reports: the settings (:class:`FinetuneConfig`),
progress while it trains, the result it saves, and which base encoder a name means.

Shared by ``train`` (runs it), ``save`` (writes the result) and ``jobs`` (queues it), so none
of those needs another's internals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SHIPPED_BASE = "sentence-transformers/all-MiniLM-L6-v2 (shipped)"


@dataclass
class FinetuneConfig:
    task: str = "classification"  # "classification" | "ner"
    base_model: str = SHIPPED_BASE  # the shipped MiniLM, a folder, or a Hub id
    epochs: float = 1.0
    learning_rate: float = 5e-5
    batch_size: int = 32
    max_length: int = 64
    warmup: float = 0.1  # ratio of all steps
    weight_decay: float = 0.01
    label_smoothing: float = 0.0  # classification: soften the 0/1 targets (less over-confident)
    freeze_encoder: bool = False  # train only the head
    freeze_embeddings: bool = False  # keep the word embeddings fixed (faster, little loss)
    seed: int = 42
    threads: int = 1
    eval_points: int = 4  # evaluations during training, for the loss curve
    eval_sample: int = 1000  # examples used by those evaluations (the final one uses all)
    max_steps: int = -1  # > 0 caps training steps (tests)
    deadline: float | None = None  # time.time() after which training stops early, then saves
    teacher: str = ""  # classification: a fine-tuned classifier folder to distil from (distill.py)
    distill_alpha: float = 0.5  # weight of the labels' loss; 1 - alpha: the teacher's soft targets
    distill_temperature: float = 2.0


@dataclass
class Progress:
    step: int = 0
    total: int = 0
    epoch: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)  # {"step", "loss"|"eval_loss"}
    message: str = ""


@dataclass
class TrainResult:
    output_dir: str
    metrics: dict[str, Any]
    table: list[dict[str, Any]]  # per label: precision, recall, f1, support
    confusion: dict[str, Any] | None
    history: list[dict[str, float]]
    cancelled: bool = False
    seconds: float = 0.0


def resolve_base(ref: str, offline: bool, policy: Any = None) -> Path:
    """The base encoder's folder: the shipped one by its aliases, else a folder / Hub id
    (through ``policy``, a ``ModelRefPolicy``, when the ref comes from a request)."""
    from backends import models

    aliases = {
        "minilm",
        "shipped",
        "all-minilm-l6-v2",
        "all-minilm-l6-v2 (shipped)",
        "sentence-transformers/all-minilm-l6-v2",
    }
    if not ref or ref == SHIPPED_BASE or ref.lower() in aliases:
        return models.resolve_embedder(None, offline=offline)
    if policy is not None:
        return policy.hf_model(ref)
    return models.resolve_hf_model(ref, offline=offline)
