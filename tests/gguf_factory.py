"""Builds small, valid GGUF files byte by byte, for tests of the header reader and loader."""

from __future__ import annotations

import struct
from typing import Any

U32, I32, F32, BOOL, STRING, ARRAY, U64 = 4, 5, 6, 7, 8, 9, 10


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("<Q", len(data)) + data


def _value(vtype: int, value: Any) -> bytes:
    if vtype == STRING:
        return _string(value)
    if vtype == ARRAY:
        item_type, items = value
        body = b"".join(_value(item_type, item) for item in items)
        return struct.pack("<IQ", item_type, len(items)) + body
    fmt = {U32: "<I", I32: "<i", F32: "<f", BOOL: "<?", U64: "<Q"}[vtype]
    return struct.pack(fmt, value)


def qwen2_metadata(**extra: tuple[int, Any]) -> dict[str, tuple[int, Any]]:
    meta: dict[str, tuple[int, Any]] = {
        "general.architecture": (STRING, "qwen2"),
        "general.name": (STRING, "tiny test model"),
        "qwen2.context_length": (U32, 32768),
        "qwen2.block_count": (U32, 24),
        "qwen2.embedding_length": (U32, 896),
        "qwen2.attention.head_count": (U32, 14),
        "qwen2.attention.head_count_kv": (U32, 2),
        "tokenizer.chat_template": (STRING, "{{ messages }}"),
        "tokenizer.ggml.eos_token_id": (U32, 151645),
        "tokenizer.ggml.tokens": (ARRAY, (STRING, [f"t{i}" for i in range(100)])),
    }
    meta.update(extra)
    return meta


def build_gguf(
    metadata: dict[str, tuple[int, Any]] | None = None,
    tensors: list[tuple[str, tuple[int, ...], int]] | None = None,
    *,
    version: int = 3,
    alignment: int = 32,
) -> bytes:
    """A GGUF file: header, metadata, tensor infos, padding and zeroed tensor data.

    ``tensors`` are (name, shape, ggml type); type 0 (F32) is 4 bytes an element.
    """
    metadata = qwen2_metadata() if metadata is None else metadata
    tensors = [("token_embd.weight", (8, 4), 0), ("output.weight", (16,), 0)] if tensors is None else tensors
    out = bytearray(b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(metadata)))
    for key, (vtype, value) in metadata.items():
        out += _string(key) + struct.pack("<I", vtype) + _value(vtype, value)
    offset = 0
    sizes = []
    for name, shape, ggml_type in tensors:
        elements = 1
        for dim in shape:
            elements *= dim
        size = elements * 4 if ggml_type == 0 else elements * 2
        out += _string(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in shape)
        out += struct.pack("<IQ", ggml_type, offset)
        sizes.append(size)
        offset += -(-size // alignment) * alignment
    out += b"\0" * (-len(out) % alignment)
    out += b"\0" * offset
    return bytes(out)
