"""Application settings: the ONLY module that reads environment variables.

Every variable has the prefix ``WB_`` (``WB_DATA_DIR``, ``WB_LLAMA_THREADS`` ...) and may
also come from a ``.env`` file in the working directory. ``.env.example`` lists them all.
Three platform variables are read without the prefix: ``SPACE_ID`` (set by Hugging Face
Spaces), ``HF_HUB_OFFLINE`` (the Hub's own offline switch) and ``GRADIO_TEMP_DIR`` (where
Gradio keeps uploads).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All knobs of the app. Paths are relative to the working directory unless absolute."""

    model_config = SettingsConfigDict(
        env_prefix="WB_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- where things live ---
    data_dir: Path = Field(Path("data"), description="Chroma store, assembled and trained models")
    kb_dir: Path = Field(Path("knowledge-base"), description="Documents the RAG tab ingests")
    models_dir: Path = Field(Path("models"), description="Extra *.gguf files to offer")

    # --- server ---
    host: str = Field("127.0.0.1", description="Interface to bind")
    port: int = Field(7860, description="Port to bind")
    share: bool = Field(False, description="Create a public gradio.live link (needs auth)")
    auth: SecretStr | None = Field(None, description="'user:password' required to open the app")
    mcp: bool = Field(False, description="Also serve the MCP endpoint")
    api_key: SecretStr | None = Field(
        None, description="Bearer key required by /v1 and /gradio_api/mcp (none: open locally)"
    )
    concurrency_limit: int = Field(2, description="Default concurrent runs per event")
    queue_max_size: int = Field(64, description="Requests waiting before 'queue is full'")
    remote_concurrency: int = Field(
        16, ge=1, description="Chat requests at once per remote (OpenAI-compatible) server and model"
    )

    # --- local llama.cpp ---
    local_model: str = Field(
        "qwen2.5-coder-0.5b-instruct", description="Default GGUF: a shipped name or a path"
    )
    llama_threads: int = Field(2, ge=1, description="llama.cpp threads (use 1 when cores are busy)")
    llama_ctx: int = Field(4096, ge=256, description="llama.cpp context size in tokens")
    llama_batch: int = Field(256, ge=8, description="llama.cpp prompt batch size")

    # --- chat backends ---
    chat_backend: str = Field("llama_cpp", description="Chat + tools backend: llama_cpp|openai|fake")
    openai_base_url: str | None = Field(None, description="OpenAI-compatible server URL")
    openai_api_key: SecretStr | None = Field(None, description="API key for that server")
    openai_model: str = Field("gpt-4o-mini", description="Model name on that server")
    openai_timeout: float = Field(30.0, gt=0, description="Seconds before a request fails")
    openai_max_retries: int = Field(1, ge=0, description="Retries on connection errors")

    # --- models for the other tabs ---
    embedder: str | None = Field(None, description="Embedding model: a folder or a Hub id")
    encoder_precision: Literal["int8", "fp32"] = Field(
        "int8",
        description="Embedder and fine-tuned classifiers: int8 ONNX made by prepare.py (fp32 when missing)",
    )
    chroma_url: str | None = Field(None, description="Use a Chroma server instead of the data dir")
    rag_chunk_size: int = Field(
        1000, ge=100, description="RAG chunk size in characters (a change re-embeds on the next sync)"
    )
    rag_chunk_overlap: int = Field(
        150, ge=0, description="Characters neighbouring RAG chunks share (less than the chunk size)"
    )
    rag_k: int = Field(
        4, ge=1, le=50, description="Chunks in a RAG answer when the request does not say (/v1 rag model)"
    )

    # --- which models visitors may name (backends/model_policy.py) ---
    allow_hub_downloads: bool = Field(
        False, description="Public mode: let visitors' hf: / Hub ids download models (local: always)"
    )
    hub_max_download_mb: int = Field(
        8192, ge=1, description="Largest Hub model (MB) a typed ref may download, checked before"
    )

    # --- server-side guardrail policy (every surface; the tabs may only tighten it) ---
    guard_pii_where: str = Field(
        "input,output,retrieved,tool", description="Where PII is masked: input,output,retrieved,tool"
    )
    guard_pii_kinds: str = Field(
        "email,phone,card,iban,ip", description="PII kinds to mask: email,phone,card,iban,ip,person"
    )
    guard_injection: bool = Field(
        True, description="Screen messages, retrieved passages and tool results for prompt injection"
    )
    guard_drop_flagged: bool = Field(
        False, description="Drop flagged passages/tool results instead of quoting them as data"
    )
    guard_refuse_user_injection: bool = Field(
        False, description="Refuse user messages flagged as prompt injection (else: a note)"
    )
    guard_sanitize_output: bool = Field(
        True, description="Answers render no HTML, images or links to hosts outside the allow-list"
    )
    guard_allowed_hosts: str = Field("", description="Hosts answers may link to (comma-separated)")
    guard_blocked_words: str = Field(
        "", description="Words refused in messages and answers (comma-separated)"
    )
    guard_blocked_patterns: str = Field(
        "", description="Regexes refused in messages and answers (JSON list, or one per line)"
    )
    guard_denied_topics: str = Field(
        "", description="Denied topics as example questions (JSON list, or one per line)"
    )
    guard_refusal_message: str = Field("", description="Refusal text (empty: the built-in one)")

    # --- request limits (checked on the server, not only in the UI) ---
    max_input_chars: int = Field(8000, ge=1, description="Longest accepted user message")
    max_new_tokens: int = Field(1024, ge=1, description="Cap on generated tokens per answer")
    max_history_messages: int = Field(100, ge=1, description="Longest accepted chat history")

    # --- platform variables (no WB_ prefix) ---
    space_id: str | None = Field(
        None, validation_alias=AliasChoices("SPACE_ID", "WB_SPACE_ID"), description="Set by Spaces"
    )
    hf_hub_offline: bool = Field(
        False,
        validation_alias=AliasChoices("HF_HUB_OFFLINE", "WB_OFFLINE"),
        description="Never try the Hugging Face Hub",
    )
    gradio_temp_dir: Path | None = Field(
        None,
        validation_alias=AliasChoices("GRADIO_TEMP_DIR", "WB_GRADIO_TEMP_DIR"),
        description="Gradio's upload folder (default: <tmp>/gradio); public mode reads uploads only there",
    )

    @property
    def on_spaces(self) -> bool:
        return bool(self.space_id)

    @property
    def is_public(self) -> bool:
        """True when people other than this machine's user can reach the server: a share link,
        Spaces, a non-loopback host, or a login (a password means other people are expected,
        e.g. behind a reverse proxy on 127.0.0.1)."""
        loopback = self.host in {"127.0.0.1", "localhost", "::1"}
        return self.share or self.on_spaces or not loopback or self.auth is not None

    def auth_pair(self) -> tuple[str, str] | None:
        if self.auth is None:
            return None
        user, sep, password = self.auth.get_secret_value().partition(":")
        if not sep or not user or not password:
            raise ValueError("auth must look like 'user:password'")
        return user, password
