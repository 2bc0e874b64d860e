"""Model lab data: every supported format loads, bad files are refused with file, line and
reason, and the loss mask covers exactly the assistant turns of the real chat template.

The tokenizer is a real ``PreTrainedTokenizerFast`` (word-level, built in memory) with a
ChatML template, so these tests run in milliseconds without a model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backends.finetune.data import DataError
from backends.finetune.lora_base import LoraConfig, plan_steps, resolve_base
from backends.finetune.lora_data import ChatSample, encode, load_chat, render, split_chat

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
    "{% if m.tool_calls %}{% for c in m.tool_calls %}<tool_call>{{ c.function.name }} "
    "{{ c.function.arguments | tojson }}</tool_call>{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture(scope="module")
def tok():
    from tokenizers import Tokenizer, pre_tokenizers
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    words = "<unk> <|im_start|> <|im_end|> system user assistant tool <tool_call> </tool_call>".split()
    words += 'hi hello the secret word is pineapple what ? . price paris { } : , " destination_city'.split()
    t = Tokenizer(WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    t.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split("<|im_start|>", "isolated"),
            pre_tokenizers.Split("<|im_end|>", "isolated"),
            pre_tokenizers.Whitespace(),
        ]
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=t, unk_token="<unk>")
    fast.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    fast.chat_template = CHATML
    return fast


def write(tmp_path: Path, name: str, lines: list) -> Path:
    p = tmp_path / name
    p.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines), encoding="utf-8")
    return p


CONVO = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}


def test_three_formats_load(tmp_path):
    tool = {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"type": "function", "function": {"name": "price", "arguments": '{"destination_city": "paris"}'}}
        ],
    }
    msgs = write(
        tmp_path, "a.jsonl", [{"messages": [{"role": "user", "content": "price paris ?"}, tool]}, CONVO]
    )
    samples, skipped = load_chat(msgs)
    assert len(samples) == 2 and not skipped
    assert samples[0].messages[1]["tool_calls"][0]["function"]["arguments"] == {"destination_city": "paris"}
    pc = write(tmp_path, "b.jsonl", [{"prompt": "hi", "completion": "hello"}])
    assert load_chat(pc)[0][0].messages[1] == {"role": "assistant", "content": "hello"}
    csv = tmp_path / "c.csv"
    csv.write_text('prompt,response\nhi,"hello, friend"\n', encoding="utf-8")
    samples, _ = load_chat(csv, system="be brief")
    assert [m["role"] for m in samples[0].messages] == ["system", "user", "assistant"]


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("{not json", "line 2 is not valid JSON"),
        ('{"messages": "hi"}', "line 2: 'messages' must be a non-empty list"),
        ('{"messages": [{"role": "robot", "content": "x"}]}', "unknown role 'robot'"),
        ('{"messages": [{"role": "user", "content": ""}]}', "a user message is empty"),
        (
            json.dumps(
                {
                    "messages": [
                        {
                            "role": "assistant",
                            "content": "",
                            "tool_calls": [{"function": {"name": "f", "arguments": "{oops"}}],
                        }
                    ]
                }
            ),
            "arguments are not valid JSON",
        ),
    ],
)
def test_malformed_lines_name_line_and_reason(tmp_path, line, why):
    p = write(tmp_path, "bad.jsonl", [CONVO, line])
    with pytest.raises(DataError, match=why.replace("(", r"\(").replace("?", r"\?")) as e:
        load_chat(p)
    assert "bad.jsonl" in str(e.value)


def test_no_assistant_turn_is_skipped_and_counted_or_refused(tmp_path):
    only_user = {"messages": [{"role": "user", "content": "hi"}]}
    samples, skipped = load_chat(write(tmp_path, "a.jsonl", [CONVO, only_user, CONVO]))
    assert len(samples) == 2 and skipped == [2]
    with pytest.raises(DataError, match="no conversation has an assistant turn"):
        load_chat(write(tmp_path, "b.jsonl", [only_user]))


def test_mask_covers_assistant_turns_only(tok):
    s = ChatSample(
        (
            {"role": "user", "content": "what is the secret word ?"},
            {"role": "assistant", "content": "the secret word is pineapple ."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
        )
    )
    text, spans = render(tok, s)
    assert [text[a:b] for a, b in spans] == [
        "the secret word is pineapple .<|im_end|>\n",
        "hello<|im_end|>\n",
    ]
    row = encode([s], tok, 256).rows[0]
    learned = tok.convert_ids_to_tokens(
        [i for i, lab in zip(row["input_ids"], row["labels"], strict=True) if lab != -100]
    )
    assert learned == ["the", "secret", "word", "is", "pineapple", ".", "<|im_end|>", "hello", "<|im_end|>"]


def test_overlong_samples_truncated_or_dropped_and_counted(tok):
    short = ChatSample(({"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}))
    long = ChatSample(
        ({"role": "user", "content": "hi"}, {"role": "assistant", "content": "the secret " * 20})
    )
    enc = encode([short, long], tok, 16, "truncate")
    assert enc.truncated == 1 and len(enc.rows) == 2 and max(len(r["input_ids"]) for r in enc.rows) == 16
    assert "1 sample(s) longer than 16 tokens were truncated" in enc.note(16)
    enc = encode([short, long], tok, 16, "drop")
    assert enc.dropped == 1 and len(enc.rows) == 1 and "dropped" in enc.note(16)


def test_split_holds_out_and_refuses_too_few():
    samples = [ChatSample(({"role": "assistant", "content": str(i)},)) for i in range(10)]
    train, dev = split_chat(samples, 0.2, 1)
    assert len(train) == 8 and len(dev) == 2 and not set(map(id, train)) & set(map(id, dev))
    with pytest.raises(DataError, match="Too few"):
        split_chat(samples[:1], 0.5, 1)


def test_max_steps_overrides_epochs_and_settings_are_checked():
    assert plan_steps(10, LoraConfig(epochs=1, max_steps=25)) == 25
    assert plan_steps(10, LoraConfig(epochs=2, batch_size=4)) == 6
    with pytest.raises(DataError, match="Settings out of range"):
        LoraConfig(rank=0).check()


def test_public_mode_takes_shipped_bases_only(tmp_path):
    with pytest.raises(DataError, match="public server the base must be a shipped model"):
        resolve_base(str(tmp_path), data_dir=tmp_path, offline=True, public=True)


def test_a_folder_that_is_not_a_causal_lm_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps({"model_type": "bert", "architectures": ["BertForMaskedLM"]})
    )
    with pytest.raises(DataError, match="not a causal language model"):
        resolve_base(str(tmp_path), data_dir=tmp_path, offline=True)


def test_a_job_that_will_not_fit_is_refused_before_training(tmp_path):
    from backends.finetune.lora_base import check_fits, estimate

    base = resolve_base("smollm2", data_dir=tmp_path, offline=True)  # reads the GGUF header only
    cfg = LoraConfig(epochs=2)
    est = estimate(base, [300] * 50, cfg)
    assert est.steps == 100 and 100e6 < est.params < 200e6 and est.memory > 4 * est.params
    with pytest.raises(DataError, match="will not fit.*only 100.0 MB is free"):
        check_fits(est, cfg, free=100 << 20)
    with pytest.raises(DataError, match="would take too long"):
        check_fits(est, LoraConfig(max_minutes=0.001), free=1 << 40)
    check_fits(est, cfg, free=1 << 40)  # fits: no error
