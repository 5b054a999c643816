"""Bad and unusual model files, asked for from a real kernel (and the CLI).

The kernel runs without root's permission override so that "no read permission" is real.
Each bad file is named with ``%%qwen --model``; the default model stays loaded meanwhile,
and after every failure the kernel must be alive, the user's variables intact and that
model still answering without a reload.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import gguf
import numpy as np
import pytest

from qwen_magic.providers.local.gguf import read_gguf
from tests.reliability.conftest import (
    assert_healthy,
    copy_prefix,
    load_count,
    no_dac_prefix,
    shown_text,
)
from tests.reliability.kernel import Kernel, one_clear_line

pytestmark = [pytest.mark.model, pytest.mark.notebook, pytest.mark.timeout(300)]

_NO_DAC = no_dac_prefix()
KERNEL_OPTIONS = {"argv_prefix": _NO_DAC or None}

# The smallest valid PNG: what a user gets by picking the wrong file in a file dialog.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def write_other_architecture(path: Path) -> Path:
    """A well-formed GGUF of another model family, written by the reference gguf package."""
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("not qwen")
    writer.add_context_length(2048)
    writer.add_block_count(1)
    writer.add_embedding_length(8)
    writer.add_head_count(2)
    writer.add_tensor("token_embd.weight", np.zeros((16, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def header_end(model: Path) -> int:
    """Where the tensor data starts in the real model: the header is everything before."""
    return read_gguf(model).data_offset


# name -> (make the file, expected error class, a fragment of the fix the line must name)
BadFile = Callable[[Path, Path], Path]


def _missing(tmp: Path, model: Path) -> Path:
    return tmp / "no such model.gguf"


def _directory(tmp: Path, model: Path) -> Path:
    (tmp / "models").mkdir()
    return tmp / "models"


def _empty(tmp: Path, model: Path) -> Path:
    (tmp / "empty.gguf").write_bytes(b"")
    return tmp / "empty.gguf"


def _image(tmp: Path, model: Path) -> Path:
    (tmp / "picture.gguf").write_bytes(PNG)
    return tmp / "picture.gguf"


def _text(tmp: Path, model: Path) -> Path:
    (tmp / "notes.gguf").write_text("these are my notes, not a model\n" * 100)
    return tmp / "notes.gguf"


def _other_arch(tmp: Path, model: Path) -> Path:
    return write_other_architecture(tmp / "llama.gguf")


def _unreadable(tmp: Path, model: Path) -> Path:
    path = copy_prefix(model, tmp / "locked.gguf", 64 * 1024)
    path.chmod(0)
    return path


def _dangling_symlink(tmp: Path, model: Path) -> Path:
    (tmp / "link.gguf").symlink_to(tmp / "gone.gguf")
    return tmp / "link.gguf"


def _truncated(fraction: float | None = None, at: int | None = None,
               after_header: int | None = None) -> BadFile:
    def make(tmp: Path, model: Path) -> Path:
        size = model.stat().st_size
        if after_header is not None:
            cut = header_end(model) + after_header
        elif at is not None:
            cut = at if at >= 0 else size + at
        else:
            cut = int(size * (fraction or 0))
        return copy_prefix(model, tmp / f"truncated-{cut}.gguf", cut)

    return make


BAD_FILES: dict[str, tuple[BadFile, str, str]] = {
    "missing": (_missing, "ModelNotFoundError", "Check the path"),
    "directory": (_directory, "InvalidModelError", "give the path of the .gguf file"),
    "empty": (_empty, "InvalidModelError", "qwen-magic pull"),
    "png-image": (_image, "InvalidModelError", "qwen-magic pull"),
    "text-file": (_text, "InvalidModelError", "qwen-magic pull"),
    "other-architecture": (_other_arch, "InvalidModelError", "qwen-magic pull"),
    "dangling-symlink": (_dangling_symlink, "ModelNotFoundError", "Check the path"),
    "unreadable": (_unreadable, "InvalidModelError", "chmod +r"),
    # The real model cut at several points: inside the fixed header, inside the metadata
    # (the tokenizer arrays), right at the end of the header, inside the weights, one byte short.
    "truncated-at-4-bytes": (_truncated(at=4), "InvalidModelError", "qwen-magic pull"),
    "truncated-at-20-bytes": (_truncated(at=20), "InvalidModelError", "qwen-magic pull"),
    "truncated-in-metadata": (_truncated(at=2_000_000), "InvalidModelError", "qwen-magic pull"),
    "truncated-at-header-end": (_truncated(after_header=0), "InvalidModelError", "qwen-magic pull"),
    "truncated-in-weights": (_truncated(fraction=0.5), "InvalidModelError", "qwen-magic pull"),
    "truncated-one-byte-short": (_truncated(at=-1), "InvalidModelError", "qwen-magic pull"),
}


@pytest.fixture(scope="module")
def baseline(kernel: Kernel) -> int:
    """The load count once the default model is loaded and has answered."""
    assert_healthy(kernel)
    return load_count(kernel)


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_model_file_is_one_line_and_the_loaded_model_stays(
    case: str, kernel: Kernel, baseline: int, model_path: Path, tmp_path: Path
) -> None:
    make, error, fix = BAD_FILES[case]
    if case == "unreadable" and _NO_DAC is None:
        pytest.skip("needs setpriv to drop root's permission override")
    path = make(tmp_path, model_path)
    done = kernel.run(f'%%qwen --model "{path}" -n 4\nsay hi')
    line = one_clear_line(done)
    assert line.startswith(f"{error}: "), line
    assert fix in line, line
    assert str(path) in line, "the message must name the file"
    # No stale "⏳ loading…" left above the error: the error is the whole story.
    assert "⏳" not in shown_text(done), done.last_display
    assert not done.inserted
    assert_healthy(kernel, loads=baseline)


def test_load_subcommand_with_a_bad_file_keeps_the_working_model(
    kernel: Kernel, baseline: int, tmp_path: Path
) -> None:
    # `%qwen load PATH` also sets the kernel's model path; a failed load must not leave it
    # pointing at the bad file, or every later cell would fail too.
    path = _text(tmp_path, tmp_path)
    line = one_clear_line(kernel.run(f"%qwen load {path}"))
    assert line.startswith("InvalidModelError: ") and "qwen-magic pull" in line, line
    assert_healthy(kernel, loads=baseline)


def test_api_with_a_bad_file_is_one_line_too(kernel: Kernel, baseline: int, tmp_path: Path) -> None:
    path = _image(tmp_path, tmp_path)
    done = kernel.run(f"qwen_magic.generate('say hi', model={str(path)!r}, max_tokens=4)")
    line = one_clear_line(done)
    assert line.startswith("InvalidModelError: ") and "qwen-magic pull" in line, line
    assert_healthy(kernel, loads=baseline)


def test_path_with_spaces_and_non_ascii_characters_loads(
    kernel: Kernel, model_path: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "my models ü" / "מודלים 模型"
    folder.mkdir(parents=True)
    path = folder / "qwen coder 🙂.gguf"
    os.link(model_path, path)  # same file, another name: no 470 MB copy
    before = load_count(kernel)
    for cell in (f'%%qwen --model "{path}" --no-insert -t 0 -n 4\nsay hi',
                 f"%qwen load {path}"):
        done = kernel.run(cell)
        assert done.status == "ok", done.error_lines
    assert load_count(kernel) == before + 1  # loaded once, then shared by both requests
    status = kernel.run("%qwen status").stdout
    assert str(path) in status
    kernel.ok("%config QwenMagics.model_path = None")
    assert_healthy(kernel)


def test_symlink_to_the_model_shares_the_loaded_model(
    kernel: Kernel, model_path: Path, tmp_path: Path
) -> None:
    assert_healthy(kernel)
    before = load_count(kernel)
    link = tmp_path / "current.gguf"
    link.symlink_to(model_path)
    done = kernel.run(f"%%qwen --model {link} --no-insert -t 0 -n 4\nsay hi")
    assert done.status == "ok", done.error_lines
    assert load_count(kernel) == before  # resolved to the same file: no second load


def _load_copy(kernel: Kernel, copy: Path) -> str:
    done = kernel.run(f"%%qwen --model {copy} --no-insert --no-footer -t 0 --seed 1 -n 6\n"
                      "say hi in one word")
    assert done.status == "ok", done.error_lines
    return shown_text(done)


def test_model_file_overwritten_in_place_while_loaded(
    kernel: Kernel, model_copy: Path, model_path: Path, tmp_path: Path
) -> None:
    # `cp other.gguf model.gguf` rewrites the same inode that llama.cpp has mapped. A
    # smaller file under the mapping used to kill the kernel with SIGBUS at the next token.
    answer = _load_copy(kernel, model_copy)
    smaller = write_other_architecture(tmp_path / "small.gguf").read_bytes()
    smaller = smaller.replace(b"llama", b"qwen2")  # now it passes as a Qwen file, and is tiny
    with open(model_copy, "r+b") as f:  # what cp does: truncate, then write
        f.truncate(0)
        f.write(smaller)
    line = one_clear_line(kernel.run(f"%%qwen --model {model_copy} -n 4\nsay hi"))
    assert line.startswith(("InvalidModelError", "ModelLoadError")), line
    assert "qwen-magic pull" in line, line
    assert_healthy(kernel)
    # Put the real model back in place: the next request loads it again and answers as before.
    copy_prefix(model_path, model_copy)
    assert _load_copy(kernel, model_copy) == answer


def test_model_file_truncated_in_place_while_loaded(kernel: Kernel, model_copy: Path) -> None:
    _load_copy(kernel, model_copy)
    with open(model_copy, "r+b") as f:
        f.truncate(10_000_000)
    line = one_clear_line(kernel.run(f"%%qwen --model {model_copy} -n 4\nsay hi"))
    assert line.startswith("InvalidModelError") and "truncated" in line, line
    # The mapping of the truncated file is gone with the model that used it.
    assert kernel.eval("len(qwen_magic.providers.local.models.loaded_models())") == 0
    assert_healthy(kernel)


def test_model_file_replaced_atomically_while_loaded(
    kernel: Kernel, model_copy: Path, model_path: Path, tmp_path: Path
) -> None:
    answer = _load_copy(kernel, model_copy)
    before = load_count(kernel)
    fresh = copy_prefix(model_path, tmp_path / "fresh.gguf")
    os.replace(fresh, model_copy)  # what `qwen-magic pull --force` does
    assert _load_copy(kernel, model_copy) == answer
    assert load_count(kernel) == before + 1  # the new file is the one in use now


def test_model_file_deleted_while_loaded(kernel: Kernel, model_copy: Path) -> None:
    _load_copy(kernel, model_copy)
    model_copy.unlink()
    line = one_clear_line(kernel.run(f"%%qwen --model {model_copy} -n 4\nsay hi"))
    assert line.startswith("ModelNotFoundError") and "qwen-magic pull" in line, line
    assert_healthy(kernel)


CLI_CASES = ["missing", "directory", "empty", "text-file", "other-architecture",
             "truncated-in-metadata"]


@pytest.mark.parametrize("case", CLI_CASES)
def test_cli_with_a_bad_model_file(case: str, model_path: Path, tmp_path: Path) -> None:
    make, error, fix = BAD_FILES[case]
    path = make(tmp_path, model_path)
    done = subprocess.run(
        [sys.executable, "-m", "qwen_magic.cli", "generate", "--model", str(path), "hi"],
        capture_output=True, text=True, timeout=120,
    )
    from qwen_magic import errors

    assert done.returncode == getattr(errors, error).exit_code, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and fix in lines[0] and "Traceback" not in done.stderr, done.stderr
    assert done.stdout == ""

