"""LoRA on a local chat model, on CPU: load the base, train, merge, save.

The base (see :mod:`backends.finetune.lora_base`) is a shipped GGUF (transformers dequantizes it into a
normal fp32 model), a local Hugging Face causal-LM folder, or a Hub id when online.
Training is a plain PyTorch loop over one conversation per forward pass (no padding to
waste CPU time) with gradient accumulation, AdamW and a linear warm-up/decay, so progress,
tokens/s and cancel are exact. The result folder holds ``adapter/`` (peft) and ``merged/``
(the merged model in fp16 with its tokenizer and chat template), ready for
:mod:`backends.llama.export`.

Recipe and traps: ../shared/MODELS.md, "LoRA on the shipped chat GGUFs".
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from backends.finetune.config import Progress
from backends.finetune.data import DataError
from backends.finetune.lora_base import Base, LoraConfig, check_causal, plan_steps

log = logging.getLogger(__name__)


@dataclass
class LoraProgress(Progress):
    """The encoder jobs' :class:`Progress` plus the LoRA loop's token counts."""

    tokens_per_s: float = 0.0
    tokens: int = 0  # fed to the model so far (prefix tokens included)


@dataclass
class LoraResult:
    output_dir: str
    metrics: dict[str, Any]
    history: list[dict[str, float]]
    cancelled: bool = False
    seconds: float = 0.0


def load_base(base: Base, threads: int) -> tuple[Any, Any]:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(threads)
    kw = base.load_kwargs()
    check_causal(AutoConfig.from_pretrained(base.folder, **kw), base.ref)
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

    from backends.finetune.lora_prefix import PrefixCache, find_prefix

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

    from backends.finetune.lora_prefix import PrefixCache, find_prefix

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
        late = config.stop_after_minutes > 0 and time.monotonic() - t_start > config.stop_after_minutes * 60
        if late or 0 < config.stop_at_step < step:
            if dev and step - 1 not in evals:
                prog.history.append(
                    {"step": step - 1, "eval_loss": mean_loss(model, dev, prefix=config.prefix_cache)}
                )
            why = f"after {config.stop_after_minutes:g} min" if late else "as asked"
            prog.message = f"stopped early {why} at step {step - 1}/{total}"
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
