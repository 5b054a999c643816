"""Too little memory, and files llama.cpp refuses or would abort the process on.

llama.cpp reports most bad files as an error, but some header values trip a GGML_ASSERT,
which calls abort() and takes the kernel with it. Those were found by mutating the real
model; each is now caught in pure Python first, and these tests load them in a real kernel.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import pytest

from qwen_magic.providers.local.gguf import read_gguf
from tests.gguf_factory import F32, U32, build_gguf, qwen2_metadata
from tests.reliability.conftest import assert_healthy, load_count, shown_text
from tests.reliability.kernel import Kernel, one_clear_line

pytestmark = [pytest.mark.model, pytest.mark.notebook, pytest.mark.timeout(300)]


def set_f32(path: Path, key: str, value: float) -> None:
    """Overwrite a float32 metadata value in place: key (length-prefixed), type 6, value."""
    name = key.encode()
    with open(path, "r+b") as f:
        head = f.read(64 * 1024)
        at = head.index(struct.pack("<Q", len(name)) + name) + 8 + len(name)
        assert struct.unpack_from("<I", head, at)[0] == 6, "not a float32 field"
        f.seek(at + 4)
        f.write(struct.pack("<f", value))
    assert read_gguf(path).metadata[key] != 0.0 or value == 0.0


def ask(kernel: Kernel, path: Path) -> str:
    done = kernel.run(f"%%qwen --model {path} -n 4\nsay hi")
    assert "⏳" not in shown_text(done)
    return one_clear_line(done)


def test_too_little_memory_is_refused_before_loading(kernel: Kernel) -> None:
    loads = load_count(kernel)
    # A loaded model needs no new memory: a low reading does not disturb it.
    kernel.ok("_real_available = qwen_magic.providers.local.models.available_memory\n"
              "qwen_magic.providers.local.models.available_memory = lambda: 300 * 1024**2")
    try:
        assert_healthy(kernel, loads=loads)
        kernel.ok("%qwen unload")
        line = one_clear_line(kernel.run("%%qwen -n 4\nsay hi"))
        assert line.startswith("InsufficientMemoryError: "), line
        assert "0.3 GB is free" in line and "smaller n_ctx" in line, line  # names what fits
        assert load_count(kernel) == loads  # llama.cpp was never asked
    finally:
        kernel.ok("qwen_magic.providers.local.models.available_memory = _real_available")
    assert_healthy(kernel, loads=loads + 1)


def test_llama_cpp_refusing_a_file_is_one_line(kernel: Kernel, tmp_path: Path) -> None:
    # Right architecture and a sound header, but none of the tensors a Qwen2 model needs:
    # our checks pass it, llama.cpp returns an error (no abort).
    path = tmp_path / "hollow.gguf"
    path.write_bytes(build_gguf())
    line = ask(kernel, path)
    assert line.startswith("ModelLoadError: ") and "Download a fresh copy" in line, line
    # Loading another file freed the default model first (one model at a time); the
    # next cell loads it again, transparently.
    assert_healthy(kernel)


@pytest.mark.parametrize("blocks", [0, 600])
def test_layer_count_that_would_abort_llama_cpp(kernel: Kernel, tmp_path: Path,
                                                 blocks: int) -> None:
    loads = load_count(kernel)
    path = tmp_path / f"blocks-{blocks}.gguf"
    path.write_bytes(build_gguf(qwen2_metadata(**{"qwen2.block_count": (U32, blocks)})))
    line = ask(kernel, path)
    assert line.startswith("InvalidModelError: ") and "block_count" in line, line
    assert "qwen-magic pull" in line, line
    assert_healthy(kernel, loads=loads)  # refused before the loaded model was touched


@pytest.mark.parametrize("epsilon", [math.nan, -1.0])
def test_norm_epsilon_that_would_abort_at_the_first_token(
    kernel: Kernel, model_copy: Path, epsilon: float
) -> None:
    # The real model with one float changed: llama.cpp loads it and then aborts in the
    # first decode (GGML_ASSERT(eps >= 0.0f)); before, this killed the kernel.
    loads = load_count(kernel)
    set_f32(model_copy, "qwen2.attention.layer_norm_rms_epsilon", epsilon)
    line = ask(kernel, model_copy)
    assert line.startswith("InvalidModelError: ") and "layer_norm_rms_epsilon" in line, line
    assert_healthy(kernel, loads=loads)


def test_wrongly_typed_size_field_is_invalid_not_a_crash(kernel: Kernel, tmp_path: Path) -> None:
    # A float where llama.cpp expects an integer would fail our own memory arithmetic.
    loads = load_count(kernel)
    path = tmp_path / "typed.gguf"
    path.write_bytes(build_gguf(qwen2_metadata(**{"qwen2.attention.head_count": (F32, 14.5)})))
    line = ask(kernel, path)
    assert line.startswith("InvalidModelError: ") and "head_count" in line, line
    assert_healthy(kernel, loads=loads)
