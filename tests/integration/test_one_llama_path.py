"""One llama.cpp generation path: the Local tab (``/local_chat``) and ``/v1/chat/completions``
give the same answer for the same model (the shipped SmolLM2 GGUF), messages and seed at
temperature 0, on one app in this process. Each request starts from a freshly loaded model:
llama.cpp reuses the KV of a repeated prompt and re-evaluates only its last token, whose logits
may differ in the last bits from a whole-prompt batch, enough to flip a near-tie."""

from __future__ import annotations

import pytest

from tests.helpers import in_process_app, smollm2_gguf

pytestmark = pytest.mark.integration

SMOL = "smollm2-135m-instruct"
QUESTIONS = ("Name three fruits.", "What is the capital of France?")


def test_local_tab_and_v1_give_the_same_answer(settings):
    import openai

    from app import Deps

    deps = Deps(settings)
    assert deps.runtime.resolve(SMOL).resolve() == smollm2_gguf().resolve()
    with in_process_app(settings, deps, api=True) as (demo, client):
        v1 = openai.OpenAI(
            base_url=demo.local_url.rstrip("/") + "/v1", api_key="x", max_retries=0, timeout=300
        )
        for question in QUESTIONS:
            deps.runtime.free_all()
            final = client.predict(
                question, SMOL, "You are terse.", 0.0, 0.95, 40, 0.05, 1.1, 24, "", 7, 0, 0,
                api_name="/local_chat",
            )  # fmt: skip
            local_answer = final[0]["content"]
            assert "prompt tokens" in final[1]["metadata"]["title"]
            deps.runtime.free_all()
            r = v1.chat.completions.create(
                model=SMOL,
                messages=[
                    {"role": "system", "content": "You are terse."},
                    {"role": "user", "content": question},
                ],
                temperature=0,
                top_p=0.95,
                max_tokens=24,
                seed=7,
            )
            assert local_answer.strip(), question
            assert r.choices[0].message.content == local_answer, question
