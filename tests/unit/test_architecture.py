"""The architecture's rules that import-linter's contracts do not say (docs/architecture.md).

The layer, independence and forbidden-import rules are import-linter contracts in
pyproject.toml (`make lint` runs them); this checks what a layers contract cannot: that no
two modules import each other in a circle, however deep, with function-level imports counted.
"""

from __future__ import annotations

import grimp


def strongly_connected(graph: grimp.ImportGraph) -> list[set[str]]:
    """Tarjan's algorithm over the module graph: the import cycles, as sets of modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[set[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(component)

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return cycles


def package_graph() -> grimp.ImportGraph:
    graph = grimp.build_graph("qwen_magic", cache_dir=None)
    # A package's __init__ re-exporting its submodules is not a cycle of two jobs.
    for module in list(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if imported.startswith(module + "."):
                graph.remove_import(importer=module, imported=imported)
    return graph


def test_no_import_cycles() -> None:
    cycles = strongly_connected(package_graph())
    assert not cycles, f"import cycles: {[sorted(c) for c in cycles]}"


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(name)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.c")
    graph.add_import(importer="pkg.c", imported="pkg.a")
    assert strongly_connected(graph) == [{"pkg.a", "pkg.b", "pkg.c"}]


# -- providers by what they can do (docs/architecture.md, "A provider") ------------------------

import ast  # noqa: E402
from pathlib import Path  # noqa: E402

PACKAGE = Path(__file__).resolve().parents[2] / "qwen_magic"
CONCRETE_PROVIDERS = {"QwenLocalProvider", "OpenAICompatibleProvider", "FallbackProvider",
                      "GgufModelLoader", "LoadedModel"}
CONCRETE_MODULES = ("qwen_magic.providers.local", "qwen_magic.providers.openai",
                    "qwen_magic.providers.fallback")
#: What every provider has (providers.base.Provider); anything else is a capability's method.
PROTOCOL_ATTRIBUTES = {"name", "stream", "describe"}
#: api.py is where a request meets its provider; it may name provider modules to reach the
#: model file's functions (pull, search path) — but never a concrete class. cli/serve.py runs
#: llama-cpp-python's own server on the model file.
MAY_IMPORT_CONCRETE = {"api.py", "cli/serve.py"}


def _outside_providers() -> list[Path]:
    return [path for path in sorted(PACKAGE.rglob("*.py"))
            if path.relative_to(PACKAGE).parts[0] != "providers"]


def _imported(node: ast.AST, module: str) -> list[str]:
    """The absolute module names an import node brings in (relative ones resolved)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        package = module.split(".")  # a package's __init__ counts as a module inside it
        if node.level:
            package = package[: len(package) - node.level]
            base = ".".join(package + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        return [base] + [f"{base}.{alias.name}" for alias in node.names]
    return []


def _mentions_provider(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) and "provider" in n.id.lower() or
               isinstance(n, ast.Attribute) and "provider" in n.attr.lower()
               for n in ast.walk(node))


def violations(sources: dict[str, str]) -> list[str]:
    """What breaks the rule in ``sources`` (path under qwen_magic/ → text)."""
    found: list[str] = []
    for relative, text in sources.items():
        parts = Path(relative).with_suffix("").parts
        module = ".".join(("qwen_magic", *parts))
        tree = ast.parse(text)
        for node in ast.walk(tree):
            where = f"{relative}:{getattr(node, 'lineno', '?')}"
            if relative not in MAY_IMPORT_CONCRETE:
                for name in _imported(node, module):
                    if name.startswith(CONCRETE_MODULES):
                        found.append(f"{where} imports {name}")
            if isinstance(node, (ast.Name, ast.Attribute)):
                name = node.id if isinstance(node, ast.Name) else node.attr
                if name in CONCRETE_PROVIDERS:
                    found.append(f"{where} names {name}")
                if isinstance(node, ast.Attribute) and node.attr == "loader":
                    found.append(f"{where} reaches for a provider's loader")
            if isinstance(node, ast.alias) and node.name in CONCRETE_PROVIDERS:
                found.append(f"{where} names {node.name} (imported)")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args:
                first = node.args[0]
                if node.func.id == "hasattr" and _mentions_provider(first):
                    found.append(f"{where} probes a provider with hasattr")
                if node.func.id == "getattr" and _mentions_provider(first) and len(node.args) > 1 \
                        and not (isinstance(node.args[1], ast.Constant)
                                 and node.args[1].value in PROTOCOL_ATTRIBUTES):
                    found.append(f"{where} probes a provider with getattr")
            if isinstance(node, ast.Attribute) and node.attr == "__name__" \
                    and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name) \
                    and node.value.func.id == "type" and _mentions_provider(node.value):
                found.append(f"{where} asks a provider's class name")
    return found


def test_no_concrete_provider_outside_providers() -> None:
    """No module outside providers/ imports a concrete provider, names its class, or probes a
    provider for an attribute of its own (``hasattr(provider, "loader")``, ``type(p).__name__``):
    a front end asks whether a provider can do a thing (providers.base's capabilities)."""
    sources = {path.relative_to(PACKAGE).as_posix(): path.read_text(encoding="utf-8")
               for path in _outside_providers()}
    found = violations(sources)
    assert not found, "\n".join(found)


def test_the_scan_catches_what_it_forbids() -> None:
    """The scan fails on each kind of reach it forbids (so its silence means something)."""
    found = "\n".join(violations({"notebook/new_module.py": (
        "from ..providers.local.provider import QwenLocalProvider\n"
        "def f(provider):\n"
        "    from qwen_magic.providers import fallback\n"
        "    return hasattr(provider, 'loader'), type(provider).__name__, provider.loader\n")}))
    for expected in ("imports qwen_magic.providers.local.provider", "names QwenLocalProvider",
                     "imports qwen_magic.providers.fallback", "probes a provider with hasattr",
                     "asks a provider's class name", "reaches for a provider's loader"):
        assert expected in found, (expected, found)
