"""Property-based fuzzing of the pure-Python GGUF reader: only InvalidModelError, ever.

The reader stands between a downloaded file and llama.cpp, which may abort the kernel on a
bad header, so it must survive anything: random bytes, headers built field by field with
lies in every count and length, and mutations of well-formed files. Each example runs
under a wall-clock alarm and tracemalloc, so a count that makes the parser loop or
allocate ("2^60 entries") fails the test instead of hanging or swapping the machine.
"""

from __future__ import annotations

import itertools
import math
import signal
import struct
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qwen_magic.errors import InvalidModelError
from qwen_magic.providers.local.gguf import GgufInfo, parse_header
from qwen_magic.providers.local.models import required_memory, validate_model
from tests.gguf_factory import (
    ARRAY,
    BOOL,
    F32,
    I32,
    STRING,
    U32,
    U64,
    build_gguf,
    qwen2_metadata,
)

pytestmark = [pytest.mark.timeout(300)]

EXAMPLES = 1000
TIME_LIMIT_S = 2.0  # per example; the parser needs microseconds for these sizes
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@contextmanager
def bounded(input_size: int) -> Iterator[None]:
    """Fail if the body runs longer than TIME_LIMIT_S or allocates far beyond its input."""

    def on_alarm(signum: int, frame: Any) -> None:
        raise TimeoutError(f"the parser ran longer than {TIME_LIMIT_S} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT_S)
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    # Everything kept is a slice of the input (strings, small arrays) plus bookkeeping.
    limit = 2 * 1024**2 + 8 * input_size
    assert peak <= limit, f"the parser allocated {peak:,} bytes for {input_size:,} of input"


def check(data: bytes, path: str = "fuzzed.gguf") -> GgufInfo | None:
    """Parse ``data``: a header that fits the bytes, or one clear InvalidModelError."""
    with bounded(len(data)):
        try:
            info = parse_header(data, len(data), path)
        except InvalidModelError as exc:
            assert_actionable(str(exc), path)
            return None
    assert info.tensor_data_end <= len(data)
    return info


def assert_actionable(message: str, path: str) -> None:
    assert "\n" not in message, message
    assert path in message, f"the message does not name the file: {message}"
    assert "qwen-magic pull" in message, f"the message does not say what to do: {message}"


# -- strategies -------------------------------------------------------------------------------

# Counts and lengths that break naive readers: zero, off-by-one around the sizes of the
# fields, sign bits, and the 2^60 that must never be allocated or looped over.
EDGES_U64 = [0, 1, 2, 3, 4, 7, 8, 9, 12, 13, 24, 64, 65, 255, 256, 4096, 2**31 - 1, 2**31,
             2**32 - 1, 2**32, 2**60, 2**62, 2**63 - 1, 2**63, 2**64 - 1]
u64 = st.one_of(st.sampled_from(EDGES_U64), st.integers(0, 300), st.integers(0, 2**64 - 1))
u32 = st.one_of(st.integers(0, 14), st.sampled_from([2**31, 2**32 - 1]),
                st.integers(0, 2**32 - 1))
SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def _p64(value: int) -> bytes:
    return struct.pack("<Q", value)


@st.composite
def gguf_string(draw: st.DrawFn, text: st.SearchStrategy[bytes] | None = None) -> bytes:
    body = draw(text if text is not None else st.binary(max_size=40))
    length = len(body) if draw(st.booleans()) else draw(u64)  # honest or lying length
    return _p64(length) + body


@st.composite
def kv_value(draw: st.DrawFn, depth: int = 0) -> bytes:
    vtype = draw(st.one_of(st.sampled_from([4, 5, 6, 7, 8, 9, 10]), u32))
    head = struct.pack("<I", vtype)
    if vtype in SCALAR_SIZES:
        size = SCALAR_SIZES[vtype]
        return head + draw(st.binary(min_size=size, max_size=size))
    if vtype == STRING:
        return head + draw(gguf_string())
    if vtype == ARRAY and depth < 2:
        item = draw(st.one_of(st.sampled_from([0, 4, 6, 8, 9]), u32))
        items = draw(st.lists(kv_value(depth + 1), max_size=6))
        # Items carry their own type tag here; strip it so the payload matches the array.
        payload = b"".join(i[4:] for i in items)
        count = len(items) if draw(st.booleans()) else draw(u64)
        return head + struct.pack("<I", item) + _p64(count) + payload
    return head + draw(st.binary(max_size=16))


KEYS = st.sampled_from([
    b"general.architecture", b"general.alignment", b"qwen2.block_count",
    b"qwen2.context_length", b"qwen2.embedding_length", b"qwen2.attention.head_count",
    b"qwen2.attention.head_count_kv", b"qwen2.attention.layer_norm_rms_epsilon",
    b"tokenizer.ggml.tokens", b"tokenizer.chat_template",
]) | st.binary(max_size=24)


@st.composite
def tensor_info(draw: st.DrawFn) -> bytes:
    name = draw(gguf_string(st.sampled_from([b"token_embd.weight", b"output.weight", b"\xff"])))
    n_dims = draw(st.one_of(st.integers(0, 5), u32))
    dims = b"".join(_p64(draw(u64)) for _ in range(min(n_dims, 5)))
    return name + struct.pack("<I", n_dims) + dims + struct.pack("<I", draw(u32)) + _p64(draw(u64))


@st.composite
def structured_header(draw: st.DrawFn) -> bytes:
    """A header built field by field, every count and length either true or a lie."""
    magic = b"GGUF" if draw(st.integers(0, 9)) else draw(st.binary(min_size=0, max_size=4))
    version = draw(st.sampled_from([3, 3, 3, 2, 1, 4, 2**32 - 1]))
    kvs = draw(st.lists(st.tuples(gguf_string(KEYS), kv_value()), max_size=8))
    tensors = draw(st.lists(tensor_info(), max_size=4))
    kv_count = len(kvs) if draw(st.booleans()) else draw(u64)
    tensor_count = len(tensors) if draw(st.booleans()) else draw(u64)
    body = b"".join(k + v for k, v in kvs) + b"".join(tensors)
    tail = draw(st.binary(max_size=256))
    return magic + struct.pack("<I", version) + _p64(tensor_count) + _p64(kv_count) + body + tail


def _reference_files() -> list[bytes]:
    """Well-formed files to mutate: the test factory's and one from the gguf package."""
    files = [build_gguf(), build_gguf(qwen2_metadata(**{
        "general.alignment": (U32, 64),
        "tokenizer.ggml.merges": (ARRAY, (STRING, ["a b", "c d"])),
    }), alignment=64)]
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "w.gguf"
        writer = gguf.GGUFWriter(str(path), "qwen2")
        writer.add_block_count(2)
        writer.add_context_length(4096)
        writer.add_embedding_length(8)
        writer.add_head_count(2)
        writer.add_token_list([f"tok{i}" for i in range(20)])
        writer.add_tensor("token_embd.weight", np.ones((4, 8), dtype=np.float32))
        writer.add_tensor("output.weight", np.ones((8,), dtype=np.float16))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        files.append(path.read_bytes())
    return files


REFERENCES = _reference_files()


@st.composite
def mutated_file(draw: st.DrawFn) -> bytes:
    """A valid file with a few edits: flipped bytes, huge u64s, cuts, insertions."""
    data = bytearray(draw(st.sampled_from(REFERENCES)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["byte", "u64", "u32", "truncate", "insert", "delete"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "byte" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "u64":
            data[at:at + 8] = _p64(draw(u64))
        elif kind == "u32":
            data[at:at + 4] = struct.pack("<I", draw(u32))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[at:at + draw(st.integers(1, 16))]
    return bytes(data)


# -- properties --------------------------------------------------------------------------------


def test_references_are_valid() -> None:
    # The mutation fuzzing is only meaningful if the files it starts from parse.
    for data in REFERENCES:
        assert check(data) is not None


def run_property(strategy: st.SearchStrategy[bytes], body: Callable[[bytes], Any]) -> None:
    """Run ``body`` on EXAMPLES generated inputs, and prove that many really ran."""
    calls = 0

    @FUZZ
    @given(strategy)
    def prop(data: bytes) -> None:
        nonlocal calls
        calls += 1
        body(data)

    prop()
    assert calls >= EXAMPLES


def test_random_bytes() -> None:
    run_property(st.one_of(
        st.binary(max_size=2048),
        st.binary(max_size=2048).map(lambda b: b"GGUF" + struct.pack("<I", 3) + b),
    ), check)


def test_structured_headers_with_lying_counts() -> None:
    run_property(structured_header(), check)


def test_mutated_valid_files() -> None:
    run_property(mutated_file(), check)


def test_loader_validation_of_fuzzed_files(tmp_path: Path) -> None:
    # The whole pure-Python path before llama.cpp: open + mmap, parse, architecture and
    # hyperparameter checks, and the memory arithmetic of the preflight.
    names = itertools.count()

    def validate(data: bytes) -> None:
        path = tmp_path / f"f{next(names)}.gguf"  # a new name each time: no cache hit
        path.write_bytes(data)
        try:
            with bounded(len(data)):
                try:
                    info = validate_model(path)
                except InvalidModelError as exc:
                    assert_actionable(str(exc), str(path))
                    return
                assert required_memory(info, 4096) > 0
                assert min(4096, info.context_length or 4096) >= 0
        finally:
            path.unlink()

    run_property(st.one_of(mutated_file(), structured_header()), validate)


# Values llama.cpp asserts on instead of returning an error (found by mutating the real
# model): anything our validation lets through must be clear of them.
NUMERIC_KEYS = ["qwen2.block_count", "qwen2.context_length", "qwen2.embedding_length",
                "qwen2.attention.head_count", "qwen2.attention.head_count_kv",
                "qwen2.attention.layer_norm_rms_epsilon"]
TYPED_VALUE = st.one_of(
    st.tuples(st.just(U32), st.one_of(st.sampled_from([0, 1, 24, 512, 513, 2**32 - 1]),
                                      st.integers(0, 2**32 - 1))),
    st.tuples(st.just(I32), st.integers(-(2**31), 2**31 - 1)),
    st.tuples(st.just(F32), st.floats(width=32)),  # NaN and infinities included
    st.tuples(st.just(BOOL), st.booleans()),
    st.tuples(st.just(STRING), st.text(st.characters(exclude_categories=["Cs"]), max_size=8)),
    st.tuples(st.just(U64), st.integers(0, 2**64 - 1)),
)


@st.composite
def qwen2_with_odd_hyperparameters(draw: st.DrawFn) -> bytes:
    metadata = qwen2_metadata()
    for key, value in draw(st.dictionaries(st.sampled_from(NUMERIC_KEYS), TYPED_VALUE)).items():
        metadata[key] = value
    for key in draw(st.lists(st.sampled_from(NUMERIC_KEYS), max_size=2)):
        metadata.pop(key, None)
    return build_gguf(metadata)


def test_what_passes_validation_cannot_abort_llama_cpp(tmp_path: Path) -> None:
    names = itertools.count()

    def validate(data: bytes) -> None:
        path = tmp_path / f"h{next(names)}.gguf"
        path.write_bytes(data)
        try:
            with bounded(len(data)):
                try:
                    info = validate_model(path)
                except InvalidModelError as exc:
                    assert_actionable(str(exc), str(path))
                    return
                blocks = info.block_count
                assert type(blocks) is int and 1 <= blocks <= 512  # else GGML_ASSERT at load
                eps = info.arch_value("attention.layer_norm_rms_epsilon")
                assert eps is None or (math.isfinite(eps) and eps >= 0)  # else abort at decode
                assert required_memory(info, 4096) > 0
                assert min(4096, info.context_length or 4096) >= 0
        finally:
            path.unlink()

    run_property(qwen2_with_odd_hyperparameters(), validate)


# -- the 2^60 family, explicitly -------------------------------------------------------------

HUGE = 2**60


def _header(tensor_count: int, kv_count: int, body: bytes = b"") -> bytes:
    return b"GGUF" + struct.pack("<I", 3) + _p64(tensor_count) + _p64(kv_count) + body


def _kv(key: bytes, value: bytes) -> bytes:
    return _p64(len(key)) + key + value


HUGE_CLAIMS: dict[str, bytes] = {
    "kv-count": _header(0, HUGE),
    "tensor-count": _header(HUGE, 0),
    "both-counts-max": _header(2**64 - 1, 2**64 - 1),
    "key-length": _header(0, 1, _p64(HUGE) + b"general.name"),
    "string-length": _header(0, 1, _kv(b"general.name", struct.pack("<I", 8) + _p64(HUGE))),
    "u8-array": _header(0, 1, _kv(b"a", struct.pack("<II", 9, 0) + _p64(HUGE))),
    "u64-array": _header(0, 1, _kv(b"a", struct.pack("<II", 9, 10) + _p64(HUGE))),
    "string-array": _header(0, 1, _kv(b"tokenizer.ggml.tokens",
                                      struct.pack("<II", 9, 8) + _p64(HUGE) + _p64(1) + b"x")),
    "nested-array": _header(0, 1, _kv(b"a", struct.pack("<II", 9, 9) + _p64(HUGE))),
    "tensor-dims": _header(1, 0, _p64(1) + b"t" + struct.pack("<I", 4) + _p64(HUGE) * 4
                           + struct.pack("<I", 0) + _p64(0)),
    "tensor-n-dims": _header(1, 0, _p64(1) + b"t" + struct.pack("<I", 2**31) + _p64(1) * 4),
    "tensor-offset": _header(1, 0, _p64(1) + b"t" + struct.pack("<I", 1) + _p64(1)
                             + struct.pack("<I", 0) + _p64(HUGE)),
}


@pytest.mark.parametrize("claim", list(HUGE_CLAIMS))
def test_huge_claims_are_rejected_at_once_without_allocating(claim: str) -> None:
    data = HUGE_CLAIMS[claim] + bytes(4096)
    started = time.perf_counter()
    with bounded(len(data)):
        with pytest.raises(InvalidModelError) as caught:
            parse_header(data, len(data), "huge.gguf")
    assert time.perf_counter() - started < 0.5
    assert_actionable(str(caught.value), "huge.gguf")


def test_a_valid_file_with_a_huge_claim_patched_in(tmp_path: Path) -> None:
    # The same lie inside a file on disk, read through mmap as a real model is.
    data = bytearray(build_gguf())
    data[16:24] = _p64(HUGE)  # the metadata count
    path = tmp_path / "claims.gguf"
    path.write_bytes(bytes(data))
    with bounded(len(data)), pytest.raises(InvalidModelError) as caught:
        validate_model(path)
    assert_actionable(str(caught.value), str(path))

