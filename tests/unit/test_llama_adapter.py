"""llama-cpp-python's internals are touched in one module: providers/local/llama_adapter.py.

Source scans (no model, llama_cpp not imported): ``Llama``'s private members, its KV
bookkeeping and the C API appear nowhere else, and only the local provider, ``serve`` and the
bench's raw baseline import ``llama_cpp``. Then the adapter's bookkeeping on a FAKE ``Llama``.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qwen_magic.providers.local.llama_adapter import LlamaAdapter

PACKAGE = Path(__file__).resolve().parents[2] / "qwen_magic"
ADAPTER = PACKAGE / "providers" / "local" / "llama_adapter.py"

# The members the adapter uses, and any others llama.py gives itself (read from its source).
KNOWN_PRIVATE = {"_ctx", "_model", "_batch", "_init_sampler", "_requires_eval", "_sampler",
                 "_input_ids", "_scores", "_n_vocab", "_logits_all"}
# Public names, but the adapter's job: what the KV cache holds.
BOOKKEEPING = {"input_ids"}


def llama_private_names() -> set[str]:
    names = set(KNOWN_PRIVATE)
    spec = importlib.util.find_spec("llama_cpp")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return names
    source = Path(list(spec.submodule_search_locations)[0]) / "llama.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Llama"):
        for node in ast.walk(cls):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "self" and node.attr.startswith("_")
                    and not node.attr.startswith("__")):
                names.add(node.attr)
            elif isinstance(node, ast.FunctionDef) and node.name.startswith("_") \
                    and not node.name.startswith("__"):
                names.add(node.name)
    return names


def modules() -> list[tuple[str, ast.Module]]:
    return [(path.relative_to(PACKAGE.parent).as_posix(), ast.parse(path.read_text(encoding="utf-8")))
            for path in sorted(PACKAGE.rglob("*.py")) if path != ADAPTER]


def test_llamas_private_members_are_touched_only_by_the_adapter() -> None:
    private = llama_private_names()
    touches = []
    for name, tree in modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            # A class's own `self._x` is its own business, whatever the name.
            own = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
            if (node.attr in private and not own) or node.attr in BOOKKEEPING:
                touches.append(f"{name}:{node.lineno} .{node.attr}")
            elif node.attr == "n_tokens" and isinstance(node.ctx, ast.Store) and not own:
                touches.append(f"{name}:{node.lineno} .n_tokens = ...")
    assert not touches, "llama-cpp-python internals outside llama_adapter.py: " + ", ".join(touches)


def test_the_c_api_is_called_only_by_the_adapter() -> None:
    calls = [f"{name}:{node.lineno} llama_cpp.{node.attr}"
             for name, tree in modules() for node in ast.walk(tree)
             if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
             and node.value.id == "llama_cpp" and node.attr.startswith("llama_")]
    assert not calls, calls


def test_only_the_local_provider_serve_and_the_bench_import_llama_cpp() -> None:
    allowed = ("qwen_magic/providers/local/", "qwen_magic/cli/serve.py", "qwen_magic/bench/")
    importers = set()
    for name, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            if any(n == "llama_cpp" or n.startswith("llama_cpp.") for n in names):
                importers.add(name)
    assert importers, "the scan found no importer at all: is it still looking at the package?"
    assert not {m for m in importers if not m.startswith(allowed)}, importers
    # Within the local provider, the request path goes through the adapter.
    assert "qwen_magic/providers/local/provider.py" not in importers


def test_the_scan_sees_a_private_touch() -> None:
    tree = ast.parse("def f(llama):\n    return llama._ctx.decode(llama._batch)\n")
    found = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert {"_ctx", "_batch"} <= found & llama_private_names()


# -- the bookkeeping rule, on a FAKE Llama -------------------------------------------------------


class FakeContext:
    def __init__(self) -> None:
        self.removed: list[tuple[int, int, int]] = []
        self.decoded: list[list[int]] = []

    def kv_cache_seq_rm(self, seq: int, p0: int, p1: int) -> bool:
        self.removed.append((seq, p0, p1))
        return True

    def decode(self, batch: FakeBatch) -> None:
        self.decoded.append(list(batch.tokens))


class FakeBatch:
    tokens: list[int]

    def set_batch(self, batch: list[int], n_past: int, logits_all: bool) -> None:
        assert logits_all
        self.tokens = list(batch)


class FakeLlama:
    n_batch = 8

    def __init__(self) -> None:
        self.input_ids = np.zeros(64, dtype=np.intc)
        self.n_tokens = 0
        self._requires_eval = True
        self._ctx, self._batch = FakeContext(), FakeBatch()

    def eval(self, tokens: list[int]) -> None:
        self.input_ids[self.n_tokens:self.n_tokens + len(tokens)] = tokens
        self.n_tokens += len(tokens)
        self._requires_eval = False


@pytest.fixture
def llama() -> Any:
    return FakeLlama()


def test_a_batch_decode_records_its_tokens_like_eval(llama: Any) -> None:
    adapter = LlamaAdapter(llama)
    adapter.eval([1, 2, 3])
    adapter.decode_batch([4, 5])
    assert adapter.tokens() == [1, 2, 3, 4, 5] and adapter.n_tokens == 5
    assert llama._ctx.decoded == [[4, 5]] and llama._requires_eval is False


def test_truncating_drops_the_kv_cells_the_record_and_the_logits(llama: Any) -> None:
    adapter = LlamaAdapter(llama)
    adapter.eval([1, 2, 3, 4])
    adapter.truncate(2)
    assert adapter.tokens() == [1, 2] and llama._ctx.removed == [(0, 2, -1)]
    assert llama._requires_eval is True  # generate must not sample from stale logits
    adapter.truncate(5)  # more than is live: nothing to do
    assert adapter.tokens() == [1, 2] and len(llama._ctx.removed) == 1
