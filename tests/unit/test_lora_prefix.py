"""The shared-prefix cache gives the same loss as a full forward, and LoRA still learns with
it. A tiny random Llama built in memory (no download, milliseconds)."""

from __future__ import annotations

import random

import pytest

from backends.finetune.lora_base import LoraConfig
from backends.finetune.lora_prefix import find_prefix
from backends.finetune.lora_train import mean_loss, train_loop, wrap_lora

torch = pytest.importorskip("torch")


def tiny_llama():
    """A 2-layer, 64-token Llama with seeded weights (the same model every call)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    return LlamaForCausalLM(cfg)


@pytest.fixture
def tiny():
    return tiny_llama()


def rows(n: int = 6, prefix: int = 40, seed: int = 0) -> list[dict[str, list[int]]]:
    rng = random.Random(seed)
    head = [rng.randrange(64) for _ in range(prefix)]
    out = []
    for _ in range(n):
        user = [rng.randrange(64) for _ in range(rng.randrange(3, 8))]
        answer = [7, 8, 9, 10, 11]
        ids = head + user + answer
        out.append({"input_ids": ids, "labels": [-100] * (len(ids) - len(answer)) + answer})
    return out


def test_prefix_found_stops_before_labels():
    data = rows()
    ids, members = find_prefix(data)
    assert len(ids) >= 40 and members == set(range(len(data)))
    first = min(next(j for j, x in enumerate(r["labels"]) if x != -100) for r in data)
    assert len(ids) <= first - 1


def test_cached_loss_equals_full_loss(tiny):
    data = rows()
    assert mean_loss(tiny, data, prefix=True) == pytest.approx(mean_loss(tiny, data, prefix=False), rel=1e-4)


def _trained_loss(prefix_cache: bool) -> tuple[float, float]:
    targets = ("q_proj", "v_proj", "up_proj", "down_proj")
    model = wrap_lora(tiny_llama(), LoraConfig(rank=8, alpha=16, dropout=0.0, target_modules=targets))
    data = rows()
    before = mean_loss(model, data, prefix=False)
    run = LoraConfig(
        max_steps=30, learning_rate=3e-2, prefix_cache=prefix_cache, prefix_refresh=4, dropout=0.0
    )
    prog = train_loop(model, data, [], run)
    assert prog.step == 30 and prog.tokens_per_s > 0
    return before, mean_loss(model, data, prefix=False)


def test_lora_learns_as_well_with_the_prefix_cache():
    before, full = _trained_loss(False)
    _, cached = _trained_loss(True)
    assert full < before * 0.9 and cached < before * 0.9
    assert cached == pytest.approx(full, rel=0.02)


def test_stop_at_step_ends_a_run_early_on_the_full_runs_schedule():
    """``stop_at_step`` (the FlightAI rebuild's STOP_AT) ends after that step on the whole run's
    LR schedule (total 12), so its weights differ from a 5-step run with its own schedule."""

    def trained(**kw):
        lora = LoraConfig(rank=4, alpha=8, dropout=0.0, target_modules=("q_proj",))
        model = wrap_lora(tiny_llama(), lora)
        prog = train_loop(model, rows(), [], LoraConfig(learning_rate=3e-2, prefix_cache=False, **kw))
        state = {k: v.clone() for k, v in model.state_dict().items() if "lora_" in k}
        return prog, state

    stopped, w_stop = trained(max_steps=12, stop_at_step=5)
    assert stopped.step == 5 and stopped.total == 12 and "at step 5/12" in stopped.message
    shorter, w_short = trained(max_steps=5)
    assert shorter.step == 5 and shorter.total == 5
    assert any(not torch.equal(w_stop[k], w_short[k]) for k in w_stop), "a 5-step schedule differs"
