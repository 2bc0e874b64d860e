"""The model lab's base model and job plan: settings, where the base comes from, and what a
job will cost (memory and time) before it starts. Nothing heavy is imported at module level.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.finetune.data import DataError
from backends.llama import available_memory, fmt_bytes, read_gguf

DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
# Measured here (MODELS.md): ~50 GFLOP/s per thread for the LoRA forward + backward.
FLOPS_PER_THREAD = 50e9


@dataclass
class LoraConfig:
    base_model: str = "smollm2-135m-instruct"
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] = DEFAULT_TARGETS
    learning_rate: float = 2e-4
    epochs: float = 1.0
    max_steps: int = -1  # > 0: stop after this many optimizer steps
    max_length: int = 512
    overlong: str = "truncate"  # or "drop"
    batch_size: int = 1  # conversations per optimizer step (gradient accumulation)
    warmup: float = 0.05
    threads: int = 1
    seed: int = 42
    eval_points: int = 4
    max_minutes: float = 0.0  # > 0: refuse a job estimated to take longer
    stop_after_minutes: float = 0.0  # > 0: end training early after this long, then save
    stop_at_step: int = (
        0  # > 0: end training after this step (the LR schedule still spans the run), then save
    )
    prefix_cache: bool = True  # reuse the shared system/tools prefix (backends/finetune/lora_prefix.py)
    prefix_refresh: int = 8  # steps between recomputing that prefix cache

    def check(self) -> None:
        ok = (
            1 <= self.rank <= 256
            and self.alpha > 0
            and 0 <= self.dropout < 1
            and self.learning_rate > 0
            and (self.epochs > 0 or self.max_steps > 0)
            and 16 <= self.max_length <= 8192
            and self.batch_size >= 1
            and self.threads >= 1
            and self.target_modules
        )
        if not ok:
            raise DataError(
                "Settings out of range: rank 1-256, alpha > 0, dropout 0-0.99, learning rate > 0, "
                "epochs > 0 (or max steps > 0), max length 16-8192, batch >= 1, threads >= 1, "
                "and at least one target module."
            )


@dataclass(frozen=True)
class Base:
    """A resolved base model: a folder, and the GGUF file name inside it for GGUF bases."""

    ref: str
    folder: Path
    gguf_file: str | None = None

    def load_kwargs(self) -> dict[str, Any]:
        return {"gguf_file": self.gguf_file} if self.gguf_file else {}


@dataclass
class Estimate:
    params: int
    tokens: int  # tokens fed per epoch
    steps: int
    memory: int
    seconds: float

    def text(self) -> str:
        return (
            f"{self.params / 1e6:.0f} M parameters, {self.steps} steps over {self.tokens:,} tokens per "
            f"epoch: about {fmt_bytes(self.memory)} of memory and {self.seconds / 60:.0f} min"
        )


def check_causal(config: Any, where: str) -> None:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    archs = getattr(config, "architectures", None) or []
    if archs and any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs):
        return
    if not archs and config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return
    raise DataError(
        f"{where} is not a causal language model (it is a {config.model_type!r} "
        f"{'/'.join(archs) or 'model'}): LoRA here trains chat models. Pick a shipped chat GGUF or a "
        "*ForCausalLM folder."
    )


def resolve_base(ref: str, *, data_dir: Path, offline: bool, public: bool = False) -> Base:
    """A shipped GGUF by name, a .gguf path, a local causal-LM folder, or a Hub id (online)."""
    from backends import models

    ref = (ref or "").strip()
    shipped = models.SHIPPED_GGUFS.get(ref.lower())
    if shipped is not None:
        path = models.shipped_gguf_path(shipped, data_dir)
        if path is None:
            raise models.ModelNotFound(
                shipped.title, [f"package for {shipped.name}"], "Install requirements.txt."
            )
        return Base(shipped.name, path.parent, path.name)
    if public:
        names = sorted({m.name for m in models.SHIPPED_GGUFS.values()})
        raise DataError(f"On a public server the base must be a shipped model: {', '.join(names)}.")
    if ref.lower().endswith(".gguf"):
        path = Path(ref)
        if not path.is_file():
            raise DataError(f"GGUF file not found: {ref}.")
        read_gguf(path)
        return Base(ref, path.parent, path.name)
    folder = models.resolve_hf_model(ref, offline=offline)
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(folder)
    except Exception as exc:
        raise DataError(f"{ref} has no usable config.json: {exc}") from exc
    check_causal(config, ref)
    return Base(ref, folder)


def count_params(base: Base) -> int:
    if base.gguf_file:
        return read_gguf(base.folder / base.gguf_file).n_params
    total = 0
    for f in base.folder.glob("*.safetensors"):
        total += f.stat().st_size // 2  # fp16/bf16 on disk; an upper bound for fp32 files/2
    if total:
        return total
    from transformers import AutoConfig

    c = AutoConfig.from_pretrained(base.folder)
    return 12 * c.num_hidden_layers * c.hidden_size**2 + c.vocab_size * c.hidden_size


def estimate(base: Base, lengths: Sequence[int], config: LoraConfig) -> Estimate:
    """Memory and time before anything is loaded (upper bounds, from measurements here):
    fp32 weights (x2 while loading from GGUF), logits and their gradients, and ~0.004 bytes of
    saved activations per parameter per token (Qwen 0.5B, 300 tokens: 6.5 GB estimated, 5.7 GB
    measured peak RSS)."""
    params = count_params(base)
    longest = max(lengths)
    vocab = 152_000 if params > 3e8 else 50_000
    memory = int(params * 4 * 2.0 + longest * vocab * 4 * 4 + longest * params * 0.004)
    steps = plan_steps(len(lengths), config)
    per_epoch = sum(lengths)
    fed = per_epoch * (steps * config.batch_size / len(lengths))
    seconds = fed * 6 * params / (FLOPS_PER_THREAD * config.threads)
    return Estimate(params, per_epoch, steps, memory, seconds)


def check_fits(est: Estimate, config: LoraConfig, free: int | None = None) -> None:
    free = available_memory() if free is None else free
    if free is not None and est.memory > free:
        raise DataError(
            f"This job will not fit: {est.text()}, but only {fmt_bytes(free)} is free. Lower the max "
            "length, pick a smaller base model, or close other programs."
        )
    if config.max_minutes > 0 and est.seconds > config.max_minutes * 60:
        raise DataError(
            f"This job would take too long: {est.text()} (the limit is {config.max_minutes:.0f} min). "
            "Use fewer samples, fewer epochs or max steps, or a smaller base model."
        )


def plan_steps(n_rows: int, config: LoraConfig) -> int:
    """Optimizer steps: ``max_steps`` when set (it overrides epochs, as in transformers), else
    ``epochs`` passes over the data."""
    if config.max_steps > 0:
        return config.max_steps
    return max(1, math.ceil(math.ceil(n_rows / config.batch_size) * config.epochs))


def rough_lengths(samples: Sequence[Any], max_length: int) -> list[int]:
    """Token counts guessed from the characters (~3 per token), before a tokenizer is loaded."""
    return [min(max_length, len(json.dumps([s.messages, s.tools])) // 3 + 16) for s in samples]
