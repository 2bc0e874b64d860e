"""The further tasks (summarization, QA, zero-shot, fill-mask) and the Under-the-hood sub-tab:
a classifier's steps (tokens, ids, attention mask, logits, softmax, argmax) and a tokenizer
explorer (tokens coloured with ids, special tokens, count, a rendered chat template)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gradio as gr

from tabs import pipelines_logic as L

SAMPLE_CONTEXT = "The annual report was written by Maria Lopez, the chief financial officer, in March 2024."


def simple_task(
    spec: Any,
    key: gr.State,
    enabled: bool,
    backend: Callable[[str, str], Any],
    max_chars: int,
    io: Callable[..., Any],
    batch: Callable[..., Any],
) -> None:
    """Wire one of summarize / qa / zero_shot / fill_mask, or a task the table added without a
    view of its own: text in, its output kind ("labels", "entities", "text") picks the view.
    ``spec`` is the task's table entry; ``io`` and ``batch`` come from pipelines.build."""
    task = spec.name
    if task == "summarize":
        text = gr.Textbox(label="Text", lines=6, interactive=enabled)
        out = gr.Textbox(label="Summary", lines=3, render=False)

        def summarize(t: str, k: str) -> str:
            return backend("summarize", k).run([L.check_text(t, max_chars)])[0].text

        io(task, text, out, key, summarize)
        batch(task, lambda k: backend("summarize", k).run, key, [], max_chars, enabled)
    elif task == "qa":
        text = gr.Textbox(label="Question", interactive=enabled)
        context = gr.Textbox(label="Context", lines=5, value=SAMPLE_CONTEXT, interactive=enabled)
        out = gr.Textbox(label="Answer", render=False)

        def qa(q: str, c: str, k: str) -> str:
            return (
                backend("qa", k)
                .answer(L.check_text(q, max_chars, "question"), L.check_text(c, max_chars, "context"))
                .text
            )

        io(task, text, out, key, qa, extra=[context])
        batch(
            task,
            lambda k, c: lambda qs: [backend("qa", k).answer(q, c) for q in qs],
            key,
            [context],
            max_chars,
            enabled,
        )
    elif task == "zero_shot":
        text = gr.Textbox(label="Text", lines=3, interactive=enabled)
        labels = gr.Textbox(
            label="Candidate labels (comma separated)",
            value="sports, politics, technology, business",
            interactive=enabled,
        )
        out = gr.Label(label="Labels", render=False)

        def zero_shot(t: str, ls: str, k: str) -> dict[str, float]:
            r = backend("zero_shot", k).classify([L.check_text(t, max_chars)], L.parse_labels(ls))[0]
            return L.label_value(r)

        io(task, text, out, key, zero_shot, extra=[labels])
        batch(
            task,
            lambda k, ls: lambda ts: backend("zero_shot", k).classify(ts, L.parse_labels(ls)),
            key,
            [labels],
            max_chars,
            enabled,
        )
    elif task == "fill_mask":
        text = gr.Textbox(label="Text with one [MASK]", interactive=enabled)
        out = gr.Label(label="Top tokens", render=False)

        def fill(t: str, k: str) -> dict[str, float]:
            t = L.check_text(t, max_chars)
            if "[MASK]" not in t and "<mask>" not in t:
                raise gr.Error("Put [MASK] where the missing word goes.")
            return L.label_value(backend("fill_mask", k).run([t])[0])

        io(task, text, out, key, fill)
        batch(task, lambda k: backend("fill_mask", k).run, key, [], max_chars, enabled)
    else:  # a task the table added without a view of its own: text in, shown by output kind
        text = gr.Textbox(label="Text", lines=3, interactive=enabled)

        def run(t: str, k: str) -> Any:
            t = L.check_text(t, max_chars)
            return L.task_value(spec.output, t, backend(task, k).run([t])[0])

        io(task, text, output_view(spec.output), key, run)
        batch(task, lambda k: backend(task, k).run, key, [], max_chars, enabled)
    if spec.examples:
        gr.Examples([[e] for e in spec.examples], [text])


def output_view(output: str) -> Any:
    """The component that shows a result of output kind ``output`` (rendered by ``io``)."""
    if output == "labels":
        return gr.Label(label="Labels", render=False)
    if output == "entities":
        return gr.HighlightedText(label="Entities", combine_adjacent=False, show_legend=True, render=False)
    return gr.Textbox(label="Output", lines=3, render=False)


def steps_markdown(steps: dict[str, Any]) -> str:
    """The classifier's forward pass as a short step-by-step explanation."""
    probs = ", ".join(f"{lab} {p:.4f}" for lab, p in zip(steps["labels"], steps["probs"], strict=False))
    logits = ", ".join(f"{lab} {v:+.3f}" for lab, v in zip(steps["labels"], steps["logits"], strict=False))
    return (
        f"1. **Tokenize**: {len(steps['tokens'])} tokens (table below), incl. the special tokens.\n"
        f"2. **Ids, attention mask**: ids `{steps['ids']}`; mask `{steps['attention_mask']}` (1 = token).\n"
        f"3. **Model**: the encoder + classification head give one logit per label: {logits}.\n"
        f"4. **Softmax**: exp(logit) / sum(exp(logits)) = {probs}.\n"
        f"5. **Argmax**: the label with the highest probability is **{steps['argmax']}**."
    )


def token_highlights(tokens: Sequence[tuple[str, int]], special: Sequence[int]) -> list[tuple[str, str]]:
    """HighlightedText value: each token labelled with its id (special tokens marked)."""
    return [(t, f"{i}{' special' if i in special else ''}") for t, i in tokens]


def build(hood: dict[str, Callable[..., Any]], choices: Callable[[str], Sequence[Any]]) -> None:
    explain = hood.get("explain")
    tokenize = hood.get("tokenize")
    sources = hood.get("tokenizer_sources", lambda: [])
    gr.Markdown("### A classifier, step by step")
    hf = [c for c in choices("sentiment") if c.available and c.backend == "hf"]
    if not hf:
        gr.Markdown(
            "Needs a transformers sentiment classifier (fine-tune one in the Fine-tune tab, or put a "
            "Hub model into the HF cache); the LLM scorer has no classification head to show."
        )
    model = gr.Dropdown(
        [(c.label, c.key) for c in hf],
        value=hf[0].key if hf else None,
        label="Classifier",
        interactive=bool(hf),
        allow_custom_value=True,  # API: "" = the best transformers classifier
    )
    text = gr.Textbox(label="Text", value="A gripping, beautifully acted film.", interactive=bool(hf))
    go = gr.Button("Show the steps", interactive=bool(hf and explain))
    steps_md = gr.Markdown()
    tok_table = gr.Dataframe(
        headers=["position", "token", "id", "attention mask"], interactive=False, label="Tokens"
    )

    def show(k: str, t: str) -> tuple[str, list[list[Any]]]:
        k = k or (hf[0].key if hf else "")
        if explain is None or not k:
            raise gr.Error("No transformers classifier is available.")
        try:
            s = explain(k, L.check_text(t, 2000))
        except (AttributeError, ValueError, LookupError, OSError) as exc:
            raise gr.Error(f"Cannot show the steps of {k}: {exc}") from exc
        rows = [
            [i, tok, id_, m]
            for i, (tok, id_, m) in enumerate(zip(s["tokens"], s["ids"], s["attention_mask"], strict=False))
        ]
        return steps_markdown(s), rows

    go.click(show, [model, text], [steps_md, tok_table], api_name="explain_classifier")

    gr.Markdown("### Tokenizer explorer")
    src = gr.Dropdown(
        sources(),
        label="Tokenizer",
        allow_custom_value=True,
        info="Shipped models, models fine-tuned here, or type a local folder / Hub id",
    )
    sample = gr.Textbox(
        label="Text", value="Tokenizers split text into pieces: unbelievably, 12345 emojis 🙂!"
    )
    run = gr.Button("Tokenize")
    count = gr.Markdown()
    shown = gr.HighlightedText(label="Tokens (label = id)", combine_adjacent=False, show_legend=False)
    template = gr.Code(label="Chat template rendered for a sample conversation", language=None)

    def explore(source: str | None, t: str) -> tuple[str, list[tuple[str, str]], str]:
        if tokenize is None or not source:
            raise gr.Error("Pick a tokenizer first.")
        try:
            r = tokenize(source, L.check_text(t, 20000))
        except (ValueError, RuntimeError, OSError) as exc:
            raise gr.Error(str(exc)) from exc
        specials = ", ".join(f"`{s}`" for s in r["special_tokens"]) or "none"
        head = f"**{len(r['tokens'])} tokens** · vocabulary {r['vocab_size']:,} · special tokens: {specials}"
        return head, token_highlights(r["tokens"], r["special_ids"]), r["chat_template"]

    src.focus(lambda v: gr.Dropdown(choices=sources(), value=v), src, src, api_name=False)
    run.click(explore, [src, sample], [count, shown, template], api_name="tokenize")
