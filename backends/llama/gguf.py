"""Read a GGUF file's header without llama.cpp: the model card and cheap safety checks.

The GGUF format (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md) is a small
header (magic, version, counts), typed key/value metadata, then one info record per tensor
(name, shape, type, offset) and the aligned tensor data. Parsing it in Python lets the app
say *why* a file is unusable (not GGUF, truncated, too big for memory) before llama.cpp,
which can crash the whole process on a damaged file, ever sees it.

What the format's ids mean (value types, tensor types and their block sizes, file types,
versions) comes from the maintained ``gguf`` package (PyPI ``gguf``, pinned; the model lab's
converter runs with its own copy in a subprocess, see ``export.py``), so new quantization
types need no edit here. The walk itself stays this small reader and not ``gguf.GGUFReader``:
that one decodes every array element (151k vocabulary strings for Qwen) through numpy and took
18 s for SmolLM2's header and 55 s for Qwen's where this reader takes 0.4 s and 1.8 s (measured
once on the shared 2-core machine, other jobs running; ``bench/gguf_header.py``). The friendly
errors and the subprocess load probe (``probe_load``) sit on top.
"""

from __future__ import annotations

import functools
import logging
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from backends.base import BackendError

log = logging.getLogger(__name__)

MAGIC = b"GGUF"
MAX_STRING = 64 << 20  # a longer metadata string means a damaged file
_SCALAR_FORMATS = {
    "UINT8": "<B", "INT8": "<b", "UINT16": "<H", "INT16": "<h", "UINT32": "<I", "INT32": "<i",
    "FLOAT32": "<f", "BOOL": "<?", "UINT64": "<Q", "INT64": "<q", "FLOAT64": "<d",
}  # fmt: skip


@dataclass(frozen=True)
class _Tables:
    """What the maintained ``gguf`` package (llama.cpp's own, PyPI ``gguf``) knows about the
    format: value types, tensor types with their block sizes, file types, versions. Read from
    it, so a new quantization type needs a ``gguf`` upgrade, not an edit here."""

    scalars: dict[int, str]  # value type id -> struct format
    string: int
    array: int
    tensor_types: dict[int, tuple[str, int, int]]  # ggml type id -> (name, block elements, block bytes)
    file_types: dict[int, str]  # general.file_type -> quantization name
    versions: tuple[int, ...]


@functools.cache
def tables() -> _Tables:
    import gguf  # imported on first use: numpy and friends stay out of the app's start-up

    vt = gguf.GGUFValueType
    sizes = gguf.GGML_QUANT_SIZES
    return _Tables(
        scalars={int(vt[name]): fmt for name, fmt in _SCALAR_FORMATS.items()},
        string=int(vt.STRING),
        array=int(vt.ARRAY),
        tensor_types={int(t): (t.name, *sizes[t]) for t in gguf.GGMLQuantizationType if t in sizes},
        file_types={
            int(f): f.name.removeprefix("MOSTLY_").removeprefix("ALL_")
            for f in gguf.LlamaFileType
            if f.name != "GUESSED"
        },
        versions=tuple(gguf.READER_SUPPORTED_VERSIONS),
    )


class GGUFError(BackendError):
    """The file is not a usable GGUF; the message says why and what to do."""


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def n_bytes(self) -> int | None:
        spec = tables().tensor_types.get(self.ggml_type)
        if spec is None:
            return None
        _, block, size = spec
        return self.n_elements // block * size


@dataclass(frozen=True)
class GGUFInfo:
    path: Path
    version: int
    metadata: dict[str, Any]  # arrays are summarised as ("array", length)
    tensors: tuple[TensorInfo, ...]
    data_start: int
    file_size: int

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    @property
    def name(self) -> str:
        return str(self.metadata.get("general.name", self.path.stem))

    @property
    def n_params(self) -> int:
        return sum(t.n_elements for t in self.tensors)

    @property
    def quantization(self) -> str:
        ft = self.metadata.get("general.file_type")
        return tables().file_types.get(ft, "unknown") if isinstance(ft, int) else "unknown"

    @property
    def context_length(self) -> int | None:
        value = self.metadata.get(f"{self.architecture}.context_length")
        return int(value) if isinstance(value, int) else None

    @property
    def chat_template(self) -> str | None:
        value = self.metadata.get("tokenizer.chat_template")
        return value if isinstance(value, str) and value.strip() else None

    @property
    def data_end(self) -> int:
        """Where the last tensor ends: the smallest size a complete file can have."""
        end = self.data_start
        for t in self.tensors:
            end = max(end, self.data_start + t.offset + (t.n_bytes() or 0))
        return end


class _Reader:
    def __init__(self, f: BinaryIO, path: Path) -> None:
        self.f = f
        self.path = path
        self.t = tables()

    def read(self, n: int) -> bytes:
        data = self.f.read(n)
        if len(data) != n:
            raise GGUFError(
                f"{self.path.name} is truncated: its header ends early (incomplete download or copy?). "
                "Download the file again."
            )
        return data

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        n = self.unpack("<Q")
        if n > MAX_STRING:
            raise GGUFError(f"{self.path.name} is damaged: a header string claims {n} bytes.")
        return self.read(n).decode("utf-8", errors="replace")

    def value(self, vtype: int) -> Any:
        t = self.t
        if vtype in t.scalars:
            return self.unpack(t.scalars[vtype])
        if vtype == t.string:
            return self.string()
        if vtype == t.array:
            item_type, n = self.unpack("<I"), self.unpack("<Q")
            if item_type in t.scalars:  # skip fixed-size items without decoding them
                self.read(struct.calcsize(t.scalars[item_type]) * n)
            else:
                for _ in range(n):
                    self.value(item_type)
            return ("array", n)
        raise GGUFError(f"{self.path.name} is damaged: unknown metadata type {vtype}.")


def read_gguf(path: Path | str) -> GGUFInfo:
    """Parse the header of ``path``; :class:`GGUFError` says what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise GGUFError(f"Model file not found: {path}. Check the path or pick a model from the list.")
    size = path.stat().st_size
    with path.open("rb") as f:
        r = _Reader(f, path)
        if f.read(4) != MAGIC:
            raise GGUFError(
                f"{path.name} is not a GGUF model file (wrong header). llama.cpp needs .gguf files; "
                "convert other formats with llama.cpp's convert_hf_to_gguf.py."
            )
        version = r.unpack("<I")
        if version not in tables().versions:
            known = " and ".join(map(str, tables().versions))
            raise GGUFError(f"{path.name} uses GGUF version {version}; this app reads versions {known}.")
        n_tensors, n_kv = r.unpack("<Q"), r.unpack("<Q")
        if n_tensors > 1_000_000 or n_kv > 1_000_000:
            raise GGUFError(f"{path.name} is damaged: implausible header counts.")
        meta: dict[str, Any] = {}
        for _ in range(n_kv):
            key = r.string()
            meta[key] = r.value(r.unpack("<I"))
        tensors = []
        for _ in range(n_tensors):
            name = r.string()
            n_dims = r.unpack("<I")
            shape = tuple(r.unpack("<Q") for _ in range(n_dims))
            tensors.append(TensorInfo(name, shape, r.unpack("<I"), r.unpack("<Q")))
        align = meta.get("general.alignment", 32)
        align = align if isinstance(align, int) and align > 0 else 32
        data_start = -(-f.tell() // align) * align
    return GGUFInfo(path, version, meta, tuple(tensors), data_start, size)


def check_gguf(path: Path | str, *, available_bytes: int | None = None) -> GGUFInfo:
    """:func:`read_gguf` plus: the tensor data is all there, and it fits in memory."""
    info = read_gguf(path)
    if not info.tensors:
        raise GGUFError(f"{info.path.name} has no tensors: it is a vocabulary-only file, not a model.")
    if info.file_size < info.data_end:
        raise GGUFError(
            f"{info.path.name} is truncated: {fmt_bytes(info.file_size)} on disk, but its header "
            f"needs {fmt_bytes(info.data_end)}. Download the file again."
        )
    available = available_memory() if available_bytes is None else available_bytes
    need = info.data_end - info.data_start
    if available is not None and need > available:
        raise GGUFError(
            f"{info.path.name} needs about {fmt_bytes(need)} of memory for its weights, but only "
            f"{fmt_bytes(available)} is free. Pick a smaller model or a smaller quantization."
        )
    return info


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo in bytes (None where there is no /proc)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def fmt_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def fmt_count(n: int) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.2f} B"
    return f"{n / 1e6:.0f} M"


def model_card(info: GGUFInfo) -> dict[str, str]:
    """What the Local tab shows about a model, as label -> value."""
    ctx = info.context_length
    return {
        "name": info.name,
        "architecture": info.architecture,
        "parameters": fmt_count(info.n_params),
        "quantization": info.quantization,
        "context length": f"{ctx:,}" if ctx else "unknown",
        "chat template": "yes" if info.chat_template else "no (plain completion mode)",
        "file size": fmt_bytes(info.file_size),
    }


def copy_without_keys(src: Path, dst: Path, drop: set[str]) -> Path:
    """Write ``src`` to ``dst`` without the metadata ``drop`` (e.g. the chat template), so a
    chat model can stand in for a base model. Keeps the tensor data and its alignment."""
    info = read_gguf(src)
    with src.open("rb") as f:
        r = _Reader(f, src)
        f.seek(4 + 4 + 8 + 8)
        kept = []
        for _ in range(len(info.metadata)):
            start = f.tell()
            key = r.string()
            r.value(r.unpack("<I"))
            if key not in drop:
                end = f.tell()
                f.seek(start)
                kept.append(f.read(end - start))
        infos_start = f.tell()
        for _ in range(len(info.tensors)):
            r.string()
            r.read(8 * r.unpack("<I") + 4 + 8)
        infos_end = f.tell()
        f.seek(infos_start)
        tensor_infos = r.read(infos_end - infos_start)
        body = MAGIC + struct.pack("<IQQ", info.version, len(info.tensors), len(kept))
        body += b"".join(kept) + tensor_infos
        align = info.metadata.get("general.alignment", 32)
        body += b"\0" * ((-len(body)) % align)
        with dst.open("wb") as out:
            out.write(body)
            f.seek(info.data_start)
            while chunk := f.read(8 << 20):
                out.write(chunk)
    return dst


_PROBE = """
import sys
from llama_cpp import Llama
Llama(model_path=sys.argv[1], n_ctx=64, n_threads=1, n_batch=8, verbose=False)
"""


def probe_load(path: Path, timeout: float = 180.0) -> None:
    """Load ``path`` with llama.cpp in a child process: if it crashes, only the child dies."""
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE, str(path)], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise GGUFError(f"{path.name}: loading took longer than {timeout:.0f}s in a test run.") from None
    if proc.returncode == 0:
        return
    lines = [ln for ln in (proc.stderr or "").strip().splitlines() if ln.strip()]
    why = lines[-1].replace(str(path.parent), "")[:300] if lines else f"exit code {proc.returncode}"
    if proc.returncode < 0:
        why = f"llama.cpp crashed (signal {-proc.returncode})"
    log.warning("probe of %s failed: %s", path, (proc.stderr or "")[-2000:])
    raise GGUFError(f"llama.cpp cannot load {path.name}: {why}. The file may be damaged or unsupported.")
