"""A small, defensive GGUF header reader — pure Python, no llama.cpp.

llama.cpp may abort the whole process on a malformed file, which in a notebook kills the
kernel. Everything llama.cpp would trust is checked here first: magic, version, counts that
cannot exceed what the file could hold, string and array lengths, and that every tensor's
data lies inside the file (which is how a truncated download is caught). Any problem raises
:class:`InvalidModelError`; nothing is allocated from a count the file claims before that
count is checked against the bytes actually present.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass, field
from typing import Any

from ...errors import InvalidModelError

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4  # GGML_MAX_DIMS

# Metadata value types (gguf spec): code -> (struct format, size). Strings/arrays are special.
_SCALARS = {
    0: ("<B", 1), 1: ("<b", 1), 2: ("<H", 2), 3: ("<h", 2), 4: ("<I", 4), 5: ("<i", 4),
    6: ("<f", 4), 7: ("<?", 1), 10: ("<Q", 8), 11: ("<q", 8), 12: ("<d", 8),
}
_STRING, _ARRAY = 8, 9

# ggml tensor types: code -> (elements per block, bytes per block). Types missing here
# (newer quantizations) are still accepted; only their exact size goes unchecked.
_GGML_BLOCKS = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
    9: (32, 36), 10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176),
    14: (256, 210), 15: (256, 292), 16: (256, 66), 17: (256, 74), 18: (256, 98),
    19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82), 23: (256, 136), 24: (1, 1),
    25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2),
    34: (256, 54), 35: (256, 66), 39: (32, 17),
}

# Arrays we keep the values of; the huge tokenizer arrays are only skipped over.
_KEEP_ARRAY_MAX = 64


@dataclass
class GgufInfo:
    """What the header says about a model, enough to show it and to load it safely."""

    path: str
    file_size: int
    version: int
    tensor_count: int
    metadata: dict[str, Any] = field(repr=False)
    data_offset: int = 0
    tensor_data_end: int = 0

    @property
    def architecture(self) -> str | None:
        return self.metadata.get("general.architecture")

    @property
    def name(self) -> str | None:
        return self.metadata.get("general.name")

    def arch_value(self, key: str) -> Any:
        return self.metadata.get(f"{self.architecture}.{key}")

    @property
    def context_length(self) -> int | None:
        return self.arch_value("context_length")

    @property
    def block_count(self) -> int | None:
        return self.arch_value("block_count")

    @property
    def chat_template(self) -> str | None:
        return self.metadata.get("tokenizer.chat_template")

    @property
    def eos_token_id(self) -> int | None:
        return self.metadata.get("tokenizer.ggml.eos_token_id")

    def kv_cache_bytes(self, n_ctx: int) -> int:
        """Bytes of an f16 KV cache for ``n_ctx`` tokens (0 when the header cannot tell)."""
        layers = self.block_count or 0
        heads = self.arch_value("attention.head_count") or 0
        kv_heads = self.arch_value("attention.head_count_kv") or heads
        embd = self.arch_value("embedding_length") or 0
        if not (layers and heads and embd):
            return 0
        head_dim = embd // heads
        return 2 * layers * n_ctx * kv_heads * head_dim * 2  # K and V, 2 bytes each


class _Cursor:
    """Bounds-checked little-endian reads over a buffer; every overrun is an InvalidModelError."""

    def __init__(self, buf: Any, size: int) -> None:
        self.buf, self.size, self.pos = buf, size, 0

    def remaining(self) -> int:
        return self.size - self.pos

    def need(self, n: int, what: str) -> None:
        if n < 0 or n > self.remaining():
            raise InvalidModelError(
                f"GGUF header is truncated or corrupt: {what} needs {n} bytes at offset "
                f"{self.pos}, but the file has {self.remaining()} left."
            )

    def unpack(self, fmt: str, size: int, what: str) -> Any:
        self.need(size, what)
        value = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += size
        return value

    def u32(self, what: str) -> int:
        return self.unpack("<I", 4, what)

    def u64(self, what: str) -> int:
        return self.unpack("<Q", 8, what)

    def string(self, what: str, keep: bool = True) -> str | None:
        length = self.u64(f"{what} length")
        self.need(length, what)
        start, self.pos = self.pos, self.pos + length
        if not keep:
            return None
        try:
            return bytes(self.buf[start : self.pos]).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidModelError(f"GGUF {what} at offset {start} is not UTF-8.") from exc


_U64 = struct.Struct("<Q")


def _skip_strings(cur: _Cursor, count: int, key: str) -> None:
    """Walk over ``count`` strings without decoding them: the tokenizer's 300k entries."""
    buf, size, pos, unpack = cur.buf, cur.size, cur.pos, _U64.unpack_from
    for _ in range(count):
        if pos + 8 > size:
            break
        pos += 8 + unpack(buf, pos)[0]
    else:
        if pos <= size:
            cur.pos = pos
            return
    raise InvalidModelError(f"GGUF array {key!r} runs past the end of the file (truncated?).")


def _read_value(cur: _Cursor, vtype: int, key: str, keep: bool = True) -> Any:
    if vtype in _SCALARS:
        fmt, size = _SCALARS[vtype]
        return cur.unpack(fmt, size, f"value of {key!r}")
    if vtype == _STRING:
        return cur.string(f"value of {key!r}", keep)
    if vtype == _ARRAY:
        item_type = cur.u32(f"array type of {key!r}")
        count = cur.u64(f"array length of {key!r}")
        if item_type == _ARRAY:
            raise InvalidModelError(f"GGUF key {key!r} holds nested arrays, which GGUF forbids.")
        if item_type in _SCALARS:
            # Fixed-size items: check the whole array fits, then skip or read it.
            _, size = _SCALARS[item_type]
            cur.need(count * size, f"array {key!r}")
            if not keep or count > _KEEP_ARRAY_MAX:
                cur.pos += count * size
                return count
            return [_read_value(cur, item_type, key) for _ in range(count)]
        if item_type == _STRING:
            # Each string is at least its 8-byte length: a cheap bound before the walk.
            cur.need(count * 8, f"array {key!r}")
            if keep and count <= _KEEP_ARRAY_MAX:
                return [cur.string(f"item of {key!r}") for _ in range(count)]
            _skip_strings(cur, count, key)
            return count
        raise InvalidModelError(f"GGUF key {key!r} has unknown array item type {item_type}.")
    raise InvalidModelError(f"GGUF key {key!r} has unknown value type {vtype}.")


_FIX = "Download the model again with `qwen-magic pull`."


def parse_header(buf: Any, size: int, path: str = "<buffer>") -> GgufInfo:
    """Parse and check a GGUF header held in ``buf`` (bytes, memoryview or mmap)."""
    try:
        return _parse_header(buf, size, path)
    except InvalidModelError as exc:
        # The low-level messages say what is wrong at which offset; the user also needs
        # to know which file, and what to do about it.
        message = str(exc)
        if path not in message:
            message = f"{path}: {message}"
        if "qwen-magic pull" not in message:
            message = f"{message} {_FIX}"
        if message == str(exc):
            raise
        raise InvalidModelError(message) from exc


def _parse_header(buf: Any, size: int, path: str) -> GgufInfo:
    cur = _Cursor(buf, size)
    if size < 4 or bytes(buf[:4]) != GGUF_MAGIC:
        head = bytes(buf[:4])
        raise InvalidModelError(
            f"{path} is not a GGUF model (it starts with {head!r}, not b'GGUF'). "
            "Download the .gguf file again with `qwen-magic pull`."
        )
    cur.pos = 4
    version = cur.u32("version")
    if version not in SUPPORTED_VERSIONS:
        raise InvalidModelError(
            f"{path} is GGUF version {version}; only versions "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))} are supported."
        )
    tensor_count = cur.u64("tensor count")
    kv_count = cur.u64("metadata count")
    # A key/value pair takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor info
    # at least 8 + 4 + 4 + 8. A count the file cannot hold is corrupt — reject before looping.
    if kv_count * 13 + tensor_count * 24 > cur.remaining():
        raise InvalidModelError(
            f"{path} claims {kv_count} metadata entries and {tensor_count} tensors, more than "
            "its size can hold: the file is corrupt or truncated."
        )
    metadata: dict[str, Any] = {}
    for _ in range(kv_count):
        key = cur.string("metadata key") or ""  # kept, so never None
        vtype = cur.u32(f"type of {key!r}")
        metadata[key] = _read_value(cur, vtype, key)

    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise InvalidModelError(f"{path} has an invalid general.alignment {alignment!r}.")

    extents: list[int] = []
    for _ in range(tensor_count):
        name = cur.string("tensor name")
        n_dims = cur.u32(f"dimension count of tensor {name!r}")
        if not 1 <= n_dims <= MAX_DIMS:
            raise InvalidModelError(f"Tensor {name!r} in {path} has {n_dims} dimensions.")
        elements = 1
        for _ in range(n_dims):
            elements *= cur.u64(f"shape of tensor {name!r}")
        ggml_type = cur.u32(f"type of tensor {name!r}")
        offset = cur.u64(f"offset of tensor {name!r}")
        if offset % alignment:
            raise InvalidModelError(f"Tensor {name!r} in {path} is not aligned.")
        block = _GGML_BLOCKS.get(ggml_type)
        nbytes = (elements // block[0]) * block[1] if block else 0
        extents.append(offset + nbytes)

    data_offset = -(-cur.pos // alignment) * alignment
    data_end = data_offset + max(extents, default=0)
    if data_end > size:
        raise InvalidModelError(
            f"{path} is truncated: its tensors need {data_end:,} bytes but the file has "
            f"{size:,}. Download it again with `qwen-magic pull`."
        )
    return GgufInfo(path, size, version, tensor_count, metadata, data_offset, data_end)


def read_gguf(path: str | os.PathLike[str]) -> GgufInfo:
    """Validate the file at ``path`` and return its header; InvalidModelError otherwise."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise InvalidModelError(
                    f"{path} is empty. Download the model again with `qwen-magic pull`."
                )
            # mmap pages in only what the header touches; the 400+ MB of weights stay on disk.
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return parse_header(buf, size, path)
    except InvalidModelError:
        raise
    except OSError as exc:
        raise InvalidModelError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
