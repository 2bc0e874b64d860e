"""The GGUF header reader on small files written here byte by byte (the real shipped files
are read in tests/integration/test_local_chat_files.py)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from backends.llama import GGUFError, check_gguf, copy_without_keys, model_card, read_gguf


def _str(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


Tensor = tuple[str, tuple[int, ...], int]


def write_gguf(path: Path, meta: dict, tensors: list[Tensor], data: bool = True) -> Path:
    """A GGUF v3 file: string/uint32/array metadata, F32 (type 0) or Q4_K (12) tensors."""
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta))
    for key, value in meta.items():
        out += _str(key)
        if isinstance(value, str):
            out += struct.pack("<I", 8) + _str(value)
        elif isinstance(value, list):
            out += struct.pack("<IIQ", 9, 8, len(value)) + b"".join(_str(v) for v in value)
        else:
            out += struct.pack("<II", 4, value)
    offset = 0
    sizes = []
    for name, shape, ggml_type in tensors:
        out += _str(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in shape)
        out += struct.pack("<IQ", ggml_type, offset)
        n = 1
        for d in shape:
            n *= d
        size = n * 4 if ggml_type == 0 else n // 256 * 144
        sizes.append(size)
        offset += size + (-size) % 32
    out += b"\0" * ((-len(out)) % 32)
    path.write_bytes(out + (b"\1" * offset if data else b""))
    return path


META = {
    "general.architecture": "llama",
    "general.name": "Tiny Test",
    "general.file_type": 15,
    "llama.context_length": 2048,
    "tokenizer.ggml.tokens": ["a", "b", "c"],
    "tokenizer.chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}",
}


def test_card_reads_architecture_params_quant_context_template(tmp_path):
    p = write_gguf(tmp_path / "m.gguf", META, [("tok_embd", (256, 4), 12), ("out", (8, 2), 0)])
    info = check_gguf(p, available_bytes=1 << 30)
    card = model_card(info)
    assert info.n_params == 256 * 4 + 16
    assert card["architecture"] == "llama" and card["name"] == "Tiny Test"
    assert card["quantization"] == "Q4_K_M"
    assert card["context length"] == "2,048"
    assert card["chat template"] == "yes"
    assert info.metadata["tokenizer.ggml.tokens"] == ("array", 3)
    assert info.data_end <= p.stat().st_size  # the writer pads the last tensor to 32 bytes


def test_missing_file(tmp_path):
    with pytest.raises(GGUFError, match="not found"):
        read_gguf(tmp_path / "nope.gguf")


def test_not_a_gguf(tmp_path):
    p = tmp_path / "weights.bin"
    p.write_bytes(b"PK\x03\x04" + b"\0" * 4000)
    with pytest.raises(GGUFError, match="not a GGUF"):
        check_gguf(p)


@pytest.mark.parametrize("keep", [30, 200])  # inside the header / inside the tensor data
def test_truncated(tmp_path, keep):
    full = write_gguf(tmp_path / "full.gguf", META, [("w", (64, 64), 0)])
    cut = tmp_path / "cut.gguf"
    data = full.read_bytes()
    cut.write_bytes(data[:keep] if keep < 100 else data[: len(data) - keep])
    with pytest.raises(GGUFError, match="truncated"):
        check_gguf(cut, available_bytes=1 << 30)


def test_too_big_for_memory(tmp_path):
    p = write_gguf(tmp_path / "big.gguf", META, [("w", (1024, 1024), 0)])
    with pytest.raises(GGUFError, match="memory"):
        check_gguf(p, available_bytes=1 << 20)  # 4 MB of weights, 1 MB free


def test_damaged_string_length(tmp_path):
    p = tmp_path / "bad.gguf"
    p.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 1, 1) + struct.pack("<Q", 1 << 40) + b"x" * 100)
    with pytest.raises(GGUFError, match="damaged"):
        read_gguf(p)


def test_copy_without_template_is_a_valid_base_model(tmp_path):
    src = write_gguf(tmp_path / "m.gguf", META, [("w", (16, 16), 0), ("v", (256,), 12)])
    dst = copy_without_keys(src, tmp_path / "base.gguf", {"tokenizer.chat_template"})
    info = check_gguf(dst, available_bytes=1 << 30)
    assert info.chat_template is None
    assert model_card(info)["chat template"].startswith("no")
    assert info.data_end <= dst.stat().st_size
    assert dst.read_bytes()[info.data_start :] == src.read_bytes()[read_gguf(src).data_start :]


def test_agrees_with_the_maintained_gguf_package(tmp_path):
    """A file written by llama.cpp's own ``gguf`` writer, with tensor types the old hand-kept
    table did not know (Q1_0, NVFP4): same metadata, shapes, sizes and data offsets as
    ``gguf.GGUFReader`` finds."""
    import gguf
    import numpy as np

    path = tmp_path / "w.gguf"
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("Writer Test")
    w.add_context_length(4096)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_K_M)
    w.add_token_list(["a", "b", "c"])
    w.add_chat_template("{{ messages }}")
    for name, qtype, shape in [("q", "Q4_K", (8, 256)), ("n", "NVFP4", (4, 64)), ("o", "Q1_0", (2, 128))]:
        qt = gguf.GGMLQuantizationType[qtype]
        block, size = gguf.GGML_QUANT_SIZES[qt]
        raw = np.ones(shape[0] * shape[1] // block * size, dtype=np.uint8).reshape(shape[0], -1)
        w.add_tensor(name, raw, raw_dtype=qt)
    w.add_tensor("f", np.ones((3, 5), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    ours, theirs = check_gguf(path, available_bytes=1 << 30), gguf.GGUFReader(path)
    assert ours.data_start == theirs.data_offset and ours.data_end <= path.stat().st_size
    by_name = {t.name: t for t in theirs.tensors}
    assert {t.name for t in ours.tensors} == set(by_name) == {"q", "n", "o", "f"}
    for t in ours.tensors:
        assert t.n_bytes() == by_name[t.name].n_bytes and t.n_elements == by_name[t.name].n_elements
        assert ours.data_start + t.offset == by_name[t.name].data_offset
    card = model_card(ours)
    assert card["name"] == "Writer Test" and card["quantization"] == "Q4_K_M"
    assert card["context length"] == "4,096" and card["chat template"] == "yes"
