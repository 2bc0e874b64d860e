"""LoRA on a local chat model, on CPU: resolve the base, estimate the cost, train, merge, save.

The base is a shipped GGUF (transformers dequantizes it into a normal fp32 model), a local
Hugging Face causal-LM folder, or a Hub id when online. Training is a plain PyTorch loop
over one conversation per forward pass (no padding to waste CPU time) with gradient
accumulation, AdamW and a linear warm-up/decay, so progress, tokens/s and cancel are exact.
The result folder holds ``adapter/`` (peft) and ``merged/`` (the merged model in fp16 with
its tokenizer and chat template), ready for :mod:`backends.gguf_export`.

Recipe and traps: ../shared/MODELS.md, "LoRA on the shipped chat GGUFs".
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from backends.finetune_data import DataError
from backends.llama_gguf import available_memory, fmt_bytes, read_gguf

log = logging.getLogger(__name__)

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
    prefix_cache: bool = True  # reuse the shared system/tools prefix (backends/lora_prefix.py)
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


@dataclass
class LoraProgress:
    step: int = 0
    total: int = 0
    epoch: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)  # {"step", "loss"|"eval_loss"}
    tokens_per_s: float = 0.0
    tokens: int = 0  # fed to the model so far (prefix tokens included)
    message: str = ""


@dataclass
class LoraResult:
    output_dir: str
    metrics: dict[str, Any]
    history: list[dict[str, float]]
    cancelled: bool = False
    seconds: float = 0.0


def _causal(config: Any, where: str) -> None:
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
    _causal(config, ref)
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


def load_base(base: Base, threads: int) -> tuple[Any, Any]:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(threads)
    kw = base.load_kwargs()
    _causal(AutoConfig.from_pretrained(base.folder, **kw), base.ref)
    tokenizer = AutoTokenizer.from_pretrained(base.folder, **kw)
    model = AutoModelForCausalLM.from_pretrained(base.folder, dtype=torch.float32, **kw)
    return model, tokenizer


def wrap_lora(model: Any, config: LoraConfig) -> Any:
    from peft import LoraConfig as PeftLora
    from peft import get_peft_model

    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    missing = [t for t in config.target_modules if t not in names]
    if missing:
        raise DataError(
            f"Target modules not in this model: {', '.join(missing)}. Linear layers it has: "
            f"{', '.join(sorted(n for n in names if n.endswith('proj'))) or 'none named *proj'}."
        )
    peft_cfg = PeftLora(
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=list(config.target_modules),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, peft_cfg)


def mean_loss(model: Any, rows: Sequence[dict[str, list[int]]], *, prefix: bool = True) -> float:
    """Token-weighted mean loss over ``rows`` (the validation loss; exact with the prefix cache,
    which is computed fresh here)."""
    import torch

    from backends.lora_prefix import PrefixCache, find_prefix

    pc = PrefixCache(*find_prefix(rows), refresh=10**9) if prefix else None
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for i, r in enumerate(rows):
            k = sum(x != -100 for x in r["labels"][1:])
            if pc and i in pc.rows:
                out = pc.forward(model, r)
            else:
                out = model(input_ids=torch.tensor([r["input_ids"]]), labels=torch.tensor([r["labels"]]))
            total += float(out.loss) * k
            n += k
    model.train()
    return total / max(1, n)


def row_order(n: int, seed: int) -> Iterator[int]:
    """Row indexes for the training steps: a new shuffle for every pass over the data."""
    rng = random.Random(seed)
    while True:
        idx = list(range(n))
        rng.shuffle(idx)
        yield from idx


def train_loop(
    model: Any,
    train: Sequence[dict[str, list[int]]],
    dev: Sequence[dict[str, list[int]]],
    config: LoraConfig,
    *,
    on_progress: Callable[[LoraProgress], None] | None = None,
    stop: threading.Event | None = None,
) -> LoraProgress:
    """The training loop (also what ``bench/lora_speed.py`` times against a bare peft loop)."""
    import torch

    from backends.lora_prefix import PrefixCache, find_prefix

    torch.manual_seed(config.seed)
    pc = PrefixCache(*find_prefix(train), refresh=config.prefix_refresh) if config.prefix_cache else None
    total = plan_steps(len(train), config)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)
    warm = max(1, int(total * config.warmup))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )
    evals = {max(1, round(total * (i + 1) / config.eval_points)) for i in range(config.eval_points)}
    prog = LoraProgress(total=total)
    if dev:
        prog.history.append({"step": 0, "eval_loss": mean_loss(model, dev, prefix=config.prefix_cache)})
    order = row_order(len(train), config.seed)
    tokens, t_train = 0, 0.0
    t_start = time.monotonic()
    model.train()
    for step in range(1, total + 1):
        if stop is not None and stop.is_set():
            prog.message = "cancelled"
            return prog
        if config.stop_after_minutes > 0 and time.monotonic() - t_start > config.stop_after_minutes * 60:
            if dev and step - 1 not in evals:
                prog.history.append(
                    {"step": step - 1, "eval_loss": mean_loss(model, dev, prefix=config.prefix_cache)}
                )
            prog.message = f"stopped early after {config.stop_after_minutes:g} min at step {step - 1}/{total}"
            return prog
        t0 = time.perf_counter()
        loss_sum = 0.0
        for _ in range(config.batch_size):
            i = next(order)
            r = train[i]
            if pc and i in pc.rows:
                out = pc.forward(model, r)
            else:
                out = model(input_ids=torch.tensor([r["input_ids"]]), labels=torch.tensor([r["labels"]]))
            (out.loss / config.batch_size).backward()
            loss_sum += float(out.loss.detach())
            tokens += len(r["input_ids"])
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        t_train += time.perf_counter() - t0
        prog.step, prog.epoch = step, step * config.batch_size / len(train)
        prog.tokens, prog.tokens_per_s = tokens, tokens / t_train
        prog.history.append({"step": step, "loss": loss_sum / config.batch_size})
        if step in evals and dev:
            prog.history.append(
                {"step": step, "eval_loss": mean_loss(model, dev, prefix=config.prefix_cache)}
            )
        prog.message = (
            f"step {step}/{total}, loss {loss_sum / config.batch_size:.3f}, {prog.tokens_per_s:.0f} tokens/s"
        )
        if on_progress:
            on_progress(prog)
    return prog


def save_merged(peft_model: Any, tokenizer: Any, out: Path) -> None:
    """adapter/ and merged/ (fp16). A GGUF-loaded model refuses ``save_pretrained`` ("quantized
    with gguf"), so the merged weights go into a fresh model built from its config."""
    import torch
    from transformers import AutoModelForCausalLM

    peft_model.save_pretrained(out / "adapter")
    merged = peft_model.merge_and_unload()
    config = merged.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float16)
    fresh.load_state_dict({k: v.to(torch.float16) for k, v in merged.state_dict().items()}, strict=True)
    fresh.save_pretrained(out / "merged")
    tokenizer.save_pretrained(out / "merged")


def write_card(out: Path, card: dict[str, Any]) -> None:
    (out / "lora.json").write_text(json.dumps(card, indent=2, default=str), encoding="utf-8")


def config_dict(config: LoraConfig) -> dict[str, Any]:
    d = asdict(config)
    d["target_modules"] = list(config.target_modules)
    return d


def rough_lengths(samples: Sequence[Any], max_length: int) -> list[int]:
    """Token counts guessed from the characters (~3 per token), before a tokenizer is loaded."""
    return [min(max_length, len(json.dumps([s.messages, s.tools])) // 3 + 16) for s in samples]
