"""The pure-Python GGUF reader on synthetic files (no model, no llama.cpp)."""

from __future__ import annotations

import struct
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qwen_magic.errors import InvalidModelError
from qwen_magic.providers.local.gguf import parse_header, read_gguf
from tests.gguf_factory import STRING, U32, build_gguf, qwen2_metadata


def parse(data: bytes):
    return parse_header(data, len(data))


def test_reads_metadata_of_a_valid_file(tmp_path):
    path = tmp_path / "m.gguf"
    path.write_bytes(build_gguf())
    info = read_gguf(path)
    assert info.version == 3
    assert info.architecture == "qwen2"
    assert info.context_length == 32768
    assert info.block_count == 24
    assert info.chat_template == "{{ messages }}"
    assert info.eos_token_id == 151645
    assert info.metadata["tokenizer.ggml.tokens"] == 100  # big arrays are counted, not kept
    assert info.tensor_data_end == info.file_size


def test_kv_cache_estimate_matches_the_model_shape():
    info = parse(build_gguf())
    # 24 layers × K and V × 4096 positions × 2 kv heads × 64 dims × 2 bytes
    assert info.kv_cache_bytes(4096) == 24 * 2 * 4096 * 2 * 64 * 2


@pytest.mark.parametrize("cut", [3, 10, 30, 200, -1])
def test_truncated_file_is_invalid(cut):
    data = build_gguf()
    with pytest.raises(InvalidModelError, match="truncated|corrupt|not a GGUF"):
        parse(data[:cut])


def test_missing_tensor_data_is_reported_as_truncated():
    data = build_gguf()
    with pytest.raises(InvalidModelError, match="truncated"):
        parse(data[:-16])


def test_wrong_magic_says_what_the_file_starts_with():
    with pytest.raises(InvalidModelError, match=r"not a GGUF model \(it starts with b'\\x89PNG'"):
        parse(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)


def test_unsupported_version():
    data = bytearray(build_gguf())
    data[4:8] = struct.pack("<I", 99)
    with pytest.raises(InvalidModelError, match="version 99"):
        parse(bytes(data))


def test_absurd_counts_are_rejected_before_any_loop():
    header = b"GGUF" + struct.pack("<IQQ", 3, 2**60, 2**60)
    started = time.perf_counter()
    with pytest.raises(InvalidModelError, match="more than its size can hold"):
        parse(header + b"\0" * 64)
    assert time.perf_counter() - started < 1.0


def test_string_length_beyond_the_file_is_rejected():
    header = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**62) + b"abc" + b"\0" * 40
    with pytest.raises(InvalidModelError, match="truncated or corrupt"):
        parse(header)


def test_array_count_beyond_the_file_is_rejected():
    meta = qwen2_metadata()
    data = build_gguf(meta)
    key = b"tokenizer.ggml.tokens"
    at = data.index(key) + len(key) + 4 + 4  # past the key, the ARRAY type and the item type
    forged = data[:at] + struct.pack("<Q", 2**61) + data[at + 8 :]
    with pytest.raises(InvalidModelError):
        parse(forged)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.gguf"
    path.write_bytes(b"")
    with pytest.raises(InvalidModelError, match="empty"):
        read_gguf(path)


def test_other_architecture_is_read_and_reported():
    meta = qwen2_metadata(**{"general.architecture": (STRING, "llama")})
    assert parse(build_gguf(meta)).architecture == "llama"


def test_non_utf8_key_is_invalid():
    data = bytearray(build_gguf({"k": (U32, 1)}))
    at = data.index(b"k")
    data[at] = 0xFF
    with pytest.raises(InvalidModelError, match="not UTF-8"):
        parse(bytes(data))


# -- property-based: arbitrary and mutated bytes only ever raise InvalidModelError -------------

VALID = build_gguf()


def _only_invalid_model_error(data: bytes) -> None:
    try:
        parse(data)
    except InvalidModelError:
        pass


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_arbitrary_bytes(data):
    _only_invalid_model_error(b"GGUF" + data)
    _only_invalid_model_error(data)


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_mutated_headers(mutations):
    data = bytearray(VALID)
    for position, byte in mutations:
        data[position] = byte
    _only_invalid_model_error(bytes(data))


@settings(max_examples=200, deadline=2000)
@given(st.integers(0, len(VALID)), st.sampled_from([0, 1, 2**31, 2**32 - 1, 2**60, 2**64 - 1]))
def test_forged_64_bit_fields(position, value):
    data = bytearray(VALID)
    position = min(position, len(data) - 8)
    data[position : position + 8] = struct.pack("<Q", value)
    _only_invalid_model_error(bytes(data))
