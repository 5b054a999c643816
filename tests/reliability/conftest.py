"""Fixtures for the reliability suite: real kernels, copies of the real model, bad files.

Every kernel here is configured the same way: one llama.cpp thread and a 2048-token
context. One thread because the CPU is shared with other suites; with two threads on two
busy cores llama.cpp's spinning workers decode ~10x slower, and a single thread keeps each
generation short and predictable. The model file is the real one (``model_path`` from
tests/conftest.py); copies of it are made per test and deleted right after.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.kernel import Execution, Kernel

N_CTX = 2048

#: Stands for the user's work: every kernel test checks it survives whatever went wrong.
PRECIOUS = {"rows": [1, 2, 3], "note": "the user's data, ü 你好"}

SETUP = """\
ip = get_ipython()
ip.config.QwenMagics.n_threads = 1
ip.config.QwenMagics.n_ctx = {n_ctx}
ip.config.QwenMagics.preload = {preload}
%load_ext qwen_magic
import qwen_magic, qwen_magic.api, qwen_magic.providers.local.models
from qwen_magic.config import ModelConfig
# The API with the magics' model settings, so API and cells share one loaded model.
api_provider = qwen_magic.api.get_provider(model_config=ModelConfig(n_threads=1, n_ctx={n_ctx}))
precious = {precious!r}
"""

#: A short greedy generation: proof that the cached model still answers.
HEALTH_CELL = "%%qwen --no-insert --no-footer -t 0 --seed 1 -n 6\nsay hi in one word"


def start_kernel(
    workdir: Path,
    model: Path,
    *,
    env: dict[str, str] | None = None,
    argv_prefix: list[str] | None = None,
    preload: bool = False,
    load: bool = True,
    transport: str = "tcp",
) -> Kernel:
    """A kernel with qwen_magic loaded (and the model too, unless ``load`` is False)."""
    full_env = {"QWEN_MAGIC_MODEL": str(model), **(env or {})}
    # The user cache would be a second place to find a model; an empty one keeps the
    # search path to what each test names.
    full_env.setdefault("XDG_CACHE_HOME", str(workdir / "cache"))
    kernel = Kernel(env=full_env, cwd=workdir, argv_prefix=argv_prefix, transport=transport)
    try:
        kernel.ok(SETUP.format(n_ctx=N_CTX, preload=preload, precious=PRECIOUS))
        if load:
            kernel.ok("%qwen load", timeout=180)
    except BaseException:
        kernel.shutdown()
        raise
    return kernel


def shown_text(done: Execution) -> str:
    """The plain text of the cell's live output after its last update."""
    return str(done.last_display.get("text/plain", ""))


def load_count(kernel: Kernel) -> int:
    return int(kernel.eval("qwen_magic.providers.local.models.load_count"))


def assert_healthy(kernel: Kernel, *, loads: int | None = None, generate: bool = True) -> str:
    """The kernel is alive, the user's namespace intact and the model answers.

    ``loads`` is the expected llama.cpp load count afterwards: equal to the count before a
    failure means the cached model was kept, not silently reloaded. Returns the answer.
    """
    assert kernel.km.is_alive(), "the kernel died"
    assert kernel.eval("precious") == PRECIOUS, "the user's namespace was damaged"
    answer = ""
    if generate:
        done = kernel.run(HEALTH_CELL, timeout=120)
        assert done.status == "ok", f"the model is not usable: {done.error_lines}"
        answer = shown_text(done)
        assert answer.strip() and "⏳" not in answer, answer
    if loads is not None:
        assert load_count(kernel) == loads
    return answer


@pytest.fixture(scope="module")
def kernel(request: pytest.FixtureRequest, model_path: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    """One kernel per test module; a module sets ``KERNEL_OPTIONS`` to change its setup."""
    options: dict[str, Any] = getattr(request.module, "KERNEL_OPTIONS", {})
    workdir = tmp_path_factory.mktemp("kernel")
    k = start_kernel(workdir, model_path, **options)
    yield k
    k.shutdown()


def copy_prefix(src: Path, dst: Path, size: int | None = None) -> Path:
    """The first ``size`` bytes of ``src`` (all of it by default) as a new file.

    copy_file_range keeps ~470 MB copies inside the kernel's page cache: about a second.
    """
    total = src.stat().st_size if size is None else size
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        left = total
        while left:
            sent = os.copy_file_range(fin.fileno(), fout.fileno(), left)
            if sent == 0:
                break
            left -= sent
    return dst


@pytest.fixture
def model_copy(model_path: Path, tmp_path: Path) -> Iterator[Path]:
    """A private full copy of the real model that a test may damage; deleted afterwards."""
    path = copy_prefix(model_path, tmp_path / "copy.gguf")
    yield path
    path.unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def _remove_big_files(tmp_path: Path) -> Iterator[None]:
    # Truncated and damaged copies of the model are hundreds of MB each: never leave them.
    yield
    for path in tmp_path.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.stat().st_size > 1024**2:
            path.unlink(missing_ok=True)


def no_dac_prefix() -> list[str] | None:
    """argv prefix that starts a process without root's permission override, or None.

    These machines run as root, and root reads a chmod-000 file anyway; dropping
    CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set makes "no read
    permission" real, as it is for every normal user.
    """
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0:
        return []
    if setpriv is None:
        return None
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--"]
