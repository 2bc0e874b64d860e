"""The tokenizer explorer of the Pipelines tab's Under-the-hood view: tokens with ids,
special tokens, count and a rendered chat template, for a transformers tokenizer (a folder or
Hub id) or a GGUF's own tokenizer (a vocab-only llama.cpp model: no weights loaded)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backends.model_policy import ModelRefPolicy
from backends.models import QWEN, SMOLLM2, resolve_embedder, resolve_hf_model
from backends.pipelines.hf import discover_trained

if TYPE_CHECKING:
    from settings import Settings

log = logging.getLogger(__name__)

SAMPLE_CONVERSATION = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is a tokenizer?"},
    {"role": "assistant", "content": "It splits text into tokens and maps them to ids."},
]


def tokenizer_sources(settings: Settings) -> list[tuple[str, str]]:
    """(label, key) of the tokenizers to explore: shipped models, then models fine-tuned here.
    Keys are names, never paths (the dropdown's values reach the browser, also in public mode):
    ``embedder:`` the configured embedder, ``gguf:<shipped name>``, ``trained:<folder name>``."""
    out = []
    try:
        folder = resolve_embedder(settings.embedder, offline=True)
        name = Path(settings.embedder).name if settings.embedder else "all-MiniLM-L6-v2"
        out.append((f"{name} ({'the' if settings.embedder else 'shipped'} embedder)", "embedder:"))
        log.debug("embedder tokenizer at %s", folder)
    except Exception as exc:  # not installed: simply not offered
        log.info("no embedder tokenizer: %s", exc)
    for m in (QWEN, SMOLLM2):
        if m.installed():
            out.append((f"{m.title} (GGUF, BPE)", f"gguf:{m.name}"))
    out += [
        (f"{folder.name} (fine-tuned here)", f"trained:{folder.name}")
        for _t, folder, _m in discover_trained(settings.data_dir)
    ]
    return out


def _trained_folder(settings: Settings, name: str) -> Path:
    for _t, folder, _m in discover_trained(settings.data_dir):
        if folder.name == name:
            return folder
    raise ValueError(f"No model fine-tuned here is called {name!r}: refresh the picker.")


def explore_hf_tokenizer(ref: str | Path, text: str, *, offline: bool) -> dict[str, Any]:
    """``ref``: a folder, or a Hub id (resolved here; callers with a request's ref resolve it
    through the model policy first and pass the folder)."""
    from transformers import AutoTokenizer

    folder = ref if isinstance(ref, Path) else resolve_hf_model(ref, offline=offline)
    tok = AutoTokenizer.from_pretrained(str(folder))
    ids = tok(text)["input_ids"]
    pieces = tok.convert_ids_to_tokens(ids)
    template = "(this tokenizer has no chat template: it belongs to an encoder, not a chat model)"
    if getattr(tok, "chat_template", None):
        template = str(tok.apply_chat_template(SAMPLE_CONVERSATION, tokenize=False))
    return {
        "tokens": list(zip(pieces, ids, strict=False)),
        "special_ids": sorted(set(tok.all_special_ids)),
        "special_tokens": list(tok.all_special_tokens),
        "vocab_size": len(tok),
        "chat_template": template,
    }


def explore_tokenizer(settings: Settings, key: str, text: str) -> dict[str, Any]:
    """Tokens with ids, special tokens, count and a rendered chat template for ``key``: one of
    :func:`tokenizer_sources`' keys, or (typed) "hf:<folder or Hub id>", "gguf:<name or path>", or a
    bare folder / Hub id — typed refs go through the model policy (public mode: names only)."""
    if key.startswith("gguf:"):
        return explore_gguf_tokenizer(settings, key[5:], text, SAMPLE_CONVERSATION)
    if key == "embedder:":
        folder = resolve_embedder(settings.embedder, offline=True)
        return explore_hf_tokenizer(Path(folder), text, offline=True)
    if key.startswith("trained:"):
        return explore_hf_tokenizer(_trained_folder(settings, key[8:]), text, offline=True)
    policy = ModelRefPolicy.from_settings(settings)
    folder = policy.hf_model(key.removeprefix("hf:"))
    return explore_hf_tokenizer(folder, text, offline=settings.hf_hub_offline)


_VOCABS: dict[str, Any] = {}


def explore_gguf_tokenizer(
    settings: Settings, ref: str, text: str, conversation: list[dict]
) -> dict[str, Any]:
    """A GGUF's own tokenizer (a vocab-only Llama: no weights loaded) and its chat template."""
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    path = str(ModelRefPolicy.from_settings(settings).gguf(ref))
    if path not in _VOCABS:
        _VOCABS[path] = Llama(model_path=path, vocab_only=True, verbose=False)
    llama = _VOCABS[path]
    ids = llama.tokenize(text.encode(), add_bos=False, special=True)
    pieces = [llama.detokenize([i]).decode("utf-8", errors="replace") for i in ids]
    special = sorted({i for i in (llama.token_bos(), llama.token_eos()) if i >= 0})
    template = llama.metadata.get("tokenizer.chat_template")
    rendered = "(this model has no chat template)"
    if template:

        def piece(i: int) -> str:
            return llama.detokenize([i], special=True).decode("utf-8", errors="replace") if i >= 0 else ""

        fmt = Jinja2ChatFormatter(
            template, eos_token=piece(llama.token_eos()), bos_token=piece(llama.token_bos())
        )
        rendered = fmt(messages=conversation).prompt
    return {
        "tokens": list(zip(pieces, ids, strict=False)),
        "special_ids": special,
        "special_tokens": [
            llama.detokenize([i], special=True).decode("utf-8", errors="replace") for i in special
        ],
        "vocab_size": llama.n_vocab(),
        "chat_template": rendered,
    }
