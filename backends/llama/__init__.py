"""Local GGUF models through llama.cpp (llama-cpp-python).

- ``runtime``: :class:`LlamaRuntime` owns every loaded ``Llama`` (one lock per model, an LRU of
  ``max_loaded``, a subprocess load probe for files that did not come with the app);
- ``chat``: :class:`LlamaChat`, the ONE llama.cpp ChatModel every surface uses (Local tab,
  Chat + tools, RAG, Compare, ``/v1``, MCP), registered as the "llama_cpp" chat backend;
- ``prompt``: the prompt of one request (chat template rendered once, trimmed, sampling args);
- ``local``: :class:`LocalModels`, the Local tab's model list, cards and ChatModels;
- ``gguf``: the GGUF header reader (model cards, friendly checks before llama.cpp sees a file);
- ``export``: convert / quantize / perplexity for the model lab (``from backends.llama import
  export``).

Importing this package is cheap: llama_cpp is imported inside the functions that need it.
"""

from backends.llama.chat import LlamaChat
from backends.llama.gguf import (
    GGUFError,
    GGUFInfo,
    available_memory,
    check_gguf,
    copy_without_keys,
    fmt_bytes,
    model_card,
    read_gguf,
)
from backends.llama.local import LocalModels
from backends.llama.runtime import LlamaRuntime, LoadedModel

__all__ = [
    "GGUFError",
    "GGUFInfo",
    "LlamaChat",
    "LlamaRuntime",
    "LoadedModel",
    "LocalModels",
    "available_memory",
    "check_gguf",
    "copy_without_keys",
    "fmt_bytes",
    "model_card",
    "read_gguf",
]
