"""Whether a notebook cell can run on its own, decided from its text alone — never by running it.

``%qwen fix --check`` runs a corrected cell in ``--check``'s separate process only when the
failed cell is *self-contained*: every name it reads is defined in it, imported by it, or a
builtin, it reads no files (the check's scratch folder is empty), and it needs no IPython
(magics, ``!`` commands and ``display`` do not exist there). Otherwise the footer says why:
"reads notebook variables: df, x", "reads files: pd.read_csv", "uses IPython: %timeit".
The corrected cell is worth the same analysis (a fix may start reading a kernel variable);
when the failed cell does not parse — a SyntaxError — only the corrected one can be analysed.

The input is Python source: IPython's input transformer has already turned ``%magic`` and
``!cmd`` lines into ``get_ipython()`` calls (``notebook/cell_python.py`` does that; this
module stays free of IPython). How names are resolved:

* Function, lambda, class and comprehension scopes are Python's own (``symtable``): a name a
  nested scope reads is the cell's business only when it resolves to the module's globals.
* Order matters at the top level, where notebooks rebind: ``df = df.dropna()`` reads the
  kernel's ``df`` before the cell binds it. Top-level code (and class bodies and
  comprehensions, which run as they are reached) is walked in execution order; a branch or a
  loop counts as binding what it may bind (an optimistic guess: a loop's body is walked twice,
  so a name bound late in one pass counts as bound in the next). Function and lambda bodies
  run later, so a global they read need only be bound somewhere in the cell.
* ``del x`` of a name the cell did not bind touches the kernel's ``x``: it counts as a read.
* A name read from outside is a notebook variable when the kernel has it. Given the kernel's
  names, one it lacks is *undefined* — the misspelling a NameError is about — which does not
  stop a check: the kernel cannot run it either, and the corrected cell must define it.
* ``from m import *`` may define anything: a name nothing else defines is reported as one
  only a star import could define (not self-contained); a cell whose names are all
  accounted for without it is still self-contained.
* Files, best effort: ``open()`` for reading (a literal mode without "r" or "+" only
  writes), any ``.read_*()`` call (``pd.read_csv``, ``Path.read_text``), any ``.open()``
  call (``Path.open``, ``gzip.open``), numpy's loaders (``np.load``, ``np.loadtxt``,
  ``np.genfromtxt``, ``np.fromfile``, ``np.memmap``), directory listings (``os.listdir``,
  ``os.scandir``, ``os.walk``, ``glob.glob``, ``.glob()``, ``.rglob()``, ``.iterdir()``) and
  ``zipfile.ZipFile``/``tarfile.open``. A file object that comes from the kernel is a
  notebook variable anyway; other ways in (``sqlite3.connect``, a library's own loader) are
  not recognised.
"""

from __future__ import annotations

import ast
import builtins
import re
import symtable
from collections.abc import Container, Iterable
from dataclasses import dataclass

# IPython adds these to the builtins of a kernel (and the REPL's displayhook adds ``_``): they
# are not in the check's process, and a cell that reads them reads the kernel.
_IPYTHON_BUILTINS = frozenset({"display", "get_ipython", "__IPYTHON__", "__IPYTHON__active", "_"})
_BUILTINS = frozenset(dir(builtins)) - _IPYTHON_BUILTINS
# Names every module has, the notebook's __main__ and the check's alike.
_MODULE_NAMES = frozenset({"__name__", "__doc__", "__builtins__", "__spec__", "__loader__",
                           "__package__", "__annotations__"})
# The kernel's own names: In/Out, the output and input history (_, __, _5, _i, _i5, …).
_IPYTHON_NAMES = frozenset({"In", "Out", "_ih", "_oh", "_dh", "_", "__", "___", "_i", "_ii", "_iii",
                            "display", "get_ipython", "__IPYTHON__"})
_HISTORY_NAME = re.compile(r"_i?\d+")

_COMPREHENSIONS: dict[type[ast.expr], str] = {
    ast.ListComp: "listcomp", ast.SetComp: "setcomp", ast.DictComp: "dictcomp",
    ast.GeneratorExp: "genexpr",
}
_MAGIC_CALLS = {"run_line_magic": "%", "run_cell_magic": "%%", "system": "!", "getoutput": "!"}

# Calls that read files, by the qualified name of what is called (after the cell's imports,
# or the usual aliases), or by the called attribute's name alone.
_FILE_FUNCTIONS = frozenset({
    "numpy.load", "numpy.loadtxt", "numpy.genfromtxt", "numpy.fromfile", "numpy.memmap",
    "os.listdir", "os.scandir", "os.walk", "glob.glob", "glob.iglob", "zipfile.ZipFile",
    "tarfile.open", "shutil.copy", "shutil.copyfile", "shutil.copytree",
})
_FILE_METHODS = frozenset({"open", "glob", "rglob", "iterdir"})
_USUAL_ALIASES = {"np": "numpy", "pd": "pandas"}


@dataclass(frozen=True)
class CellScope:
    """What a cell needs from outside itself; self-contained when it needs nothing."""

    notebook_names: tuple[str, ...] = ()  # read from the kernel: not defined, imported, builtin
    undefined_names: tuple[str, ...] = ()  # read, and the kernel has none: the NameError's own
    star_names: tuple[str, ...] = ()  # read, and only a star import could define them
    star_imports: tuple[str, ...] = ()  # the modules imported with *
    ipython: tuple[str, ...] = ()  # what needs the kernel: "%timeit", "!ls", "display"
    files: tuple[str, ...] = ()  # the calls that read files, as written: "pd.read_csv"
    syntax_error: str | None = None  # "invalid syntax (line 2)": nothing could be decided

    @property
    def self_contained(self) -> bool:
        """Runs the same outside the kernel. Undefined names do not count: the kernel has
        none either, so the cell fails the same way there, and a fix must define them."""
        return self.syntax_error is None and not (
            self.notebook_names or self.star_names or self.ipython or self.files)

    def reason(self) -> str:
        """Why the cell cannot run on its own ("" when it can): "reads notebook variables: df"."""
        if self.syntax_error is not None:
            return f"does not parse: {self.syntax_error}"
        parts = []
        if self.notebook_names:
            parts.append(f"reads notebook variables: {', '.join(self.notebook_names)}")
        if self.star_names:
            modules = ", ".join(f"from {module} import *" for module in self.star_imports)
            parts.append(f"reads names only a star import could define: "
                         f"{', '.join(self.star_names)} ({modules})")
        if self.ipython:
            parts.append(f"uses IPython: {', '.join(self.ipython)}")
        if self.files:
            parts.append(f"reads files: {', '.join(self.files)}")
        return "; ".join(parts)


def analyze_cell(python_source: str, kernel_names: Container[str] | None = None) -> CellScope:
    """What the cell (already through IPython's input transformer) needs from outside itself.

    ``kernel_names``: the names the kernel defines (its user namespace), when known. A name
    the cell reads from outside is then a notebook variable only if the kernel has it, and
    otherwise undefined (a misspelling, a missing import: what the NameError was about). Not
    given, every name read from outside counts as a notebook variable.
    """
    try:
        tree = ast.parse(python_source)
        table = symtable.symtable(python_source, "<cell>", "exec")
    except SyntaxError as exc:
        return CellScope(syntax_error=exc.msg + (f" (line {exc.lineno})" if exc.lineno else ""))
    except ValueError as exc:  # a null byte in the source, before Python 3.11.4
        return CellScope(syntax_error=str(exc))

    walk = _ModuleWalk(table)
    walk.statements(tree.body)
    outside: dict[str, None] = dict.fromkeys(walk.early_reads)
    for name in walk.deferred_reads:  # read by functions, when called: bound anywhere will do
        if name not in walk.bound_anywhere and not _is_builtin(name):
            outside.setdefault(name)

    ipython = _ipython_uses(tree)
    notebook, undefined, star = [], [], []
    for name in outside:
        if name in _IPYTHON_NAMES or _HISTORY_NAME.fullmatch(name):
            if name != "get_ipython" or not ipython:  # a magic line says it better
                ipython.setdefault(name)
        elif kernel_names is not None and name in kernel_names:
            notebook.append(name)
        elif walk.star_imports:
            star.append(name)
        elif kernel_names is None:
            notebook.append(name)
        else:
            undefined.append(name)
    return CellScope(
        notebook_names=tuple(notebook), undefined_names=tuple(undefined), star_names=tuple(star),
        star_imports=tuple(walk.star_imports), ipython=tuple(ipython),
        files=tuple(_file_reads(tree, walk.bound_anywhere)))


def defined_names(python_source: str) -> frozenset[str]:
    """The names a cell leaves defined at its top level (what it adds to the kernel), from its
    text: the bench's stand-in for a kernel's namespace after a setup cell. Empty if it does
    not parse."""
    try:
        tree = ast.parse(python_source)
        table = symtable.symtable(python_source, "<cell>", "exec")
    except (SyntaxError, ValueError):
        return frozenset()
    walk = _ModuleWalk(table)
    walk.statements(tree.body)
    return frozenset(walk.bound)


def _is_builtin(name: str) -> bool:
    return name in _BUILTINS or name in _MODULE_NAMES


class _ModuleWalk:
    """Top-level code in execution order: what it reads before binding, and what it binds."""

    def __init__(self, table: symtable.SymbolTable) -> None:
        self.bound: set[str] = set()  # bound by the code walked so far (may be bound)
        self.bound_anywhere: set[str] = set()
        self.early_reads: list[str] = []  # top-level reads of names not bound (yet)
        self.deferred_reads: list[str] = []  # globals read in function and lambda bodies
        self.star_imports: list[str] = []
        self.recording = True  # False during a loop body's first pass
        # The module's nested scopes, to be matched to their AST nodes by name and line.
        self.tables: dict[tuple[str, int], list[symtable.SymbolTable]] = {}
        for child in table.get_children():
            self.tables.setdefault((child.get_name(), child.get_lineno()), []).append(child)
        self.table_of: dict[int, symtable.SymbolTable | None] = {}

    # -- names ---------------------------------------------------------------------------

    def read(self, name: str) -> None:
        if self.recording and name not in self.bound and not _is_builtin(name):
            self.early_reads.append(name)

    def bind(self, name: str) -> None:
        self.bound.add(name)
        self.bound_anywhere.add(name)

    # -- statements ----------------------------------------------------------------------

    def statements(self, body: Iterable[ast.stmt]) -> None:
        for statement in body:
            self.statement(statement)

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Assign):
            self.expr(node.value)
            for target in node.targets:
                self.expr(target)
        elif isinstance(node, ast.AugAssign):
            if isinstance(node.target, ast.Name):
                self.read(node.target.id)  # x += 1 reads x first
                self.expr(node.value)
                self.bind(node.target.id)
            else:
                self.expr(node.target)
                self.expr(node.value)
        elif isinstance(node, ast.AnnAssign):
            if node.value is not None:
                self.expr(node.value)
            self.expr(node.annotation)
            if node.value is not None or not isinstance(node.target, ast.Name):
                self.expr(node.target)  # a bare `x: int` binds nothing
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            self.expr(node.iter)
            self.loop([node.target], node.body)
            self.statements(node.orelse)
        elif isinstance(node, ast.While):
            self.loop([node.test], node.body)
            self.statements(node.orelse)
        elif isinstance(node, ast.If):
            self.expr(node.test)
            self.branches([node.body, node.orelse])
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                self.expr(item.context_expr)
                if item.optional_vars is not None:
                    self.expr(item.optional_vars)
            self.statements(node.body)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.exprs(node.decorator_list)
            self.arguments(node.args)
            if node.returns is not None:
                self.expr(node.returns)
            self.scope(node, node.name, deferred=True)
            self.bind(node.name)
        elif isinstance(node, ast.ClassDef):
            self.exprs(node.decorator_list)
            self.exprs(node.bases)
            self.exprs(keyword.value for keyword in node.keywords)
            self.scope(node, node.name, deferred=False)
            self.bind(node.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                self.bind(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    self.star_imports.append("." * node.level + (node.module or ""))
                else:
                    self.bind(alias.asname or alias.name)
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                self.expr(target)
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            self.try_statement(node)
        elif isinstance(node, ast.Match):
            self.expr(node.subject)
            for case in node.cases:
                self.pattern(case.pattern)
                if case.guard is not None:
                    self.expr(case.guard)
            self.branches([case.body for case in node.cases] + [[]])
        else:  # Expr, Return, Raise, Assert, Global, Pass, … (and newer statements)
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    self.statement(child)
                elif isinstance(child, ast.expr):
                    self.expr(child)

    def try_statement(self, node: ast.stmt) -> None:
        self.statements(getattr(node, "body", []))
        for handler in getattr(node, "handlers", []):
            if handler.type is not None:
                self.expr(handler.type)
            if handler.name:
                self.bind(handler.name)
            self.statements(handler.body)
        self.statements(getattr(node, "orelse", []))
        self.statements(getattr(node, "finalbody", []))

    def branches(self, bodies: list[list[ast.stmt]]) -> None:
        """Each branch starts from what was bound before; after them, what any may have bound."""
        before = set(self.bound)
        after: set[str] = set()
        for body in bodies:
            self.bound = set(before)
            self.statements(body)
            after |= self.bound
        self.bound = after

    def loop(self, head: list[ast.expr], body: list[ast.stmt]) -> None:
        """A loop's target or test and body twice: first only to learn what they bind, then
        recording their reads."""
        recording = self.recording
        for this_pass_records in (False, recording):  # ends as it was
            self.recording = this_pass_records
            self.exprs(head)
            self.statements(body)

    def pattern(self, node: ast.pattern) -> None:
        for child in ast.walk(node):
            if isinstance(child, (ast.MatchAs, ast.MatchStar)) and child.name:
                self.bind(child.name)
            elif isinstance(child, ast.MatchMapping) and child.rest:
                self.bind(child.rest)
            elif isinstance(child, ast.MatchValue):
                self.expr(child.value)
            elif isinstance(child, ast.MatchMapping):
                self.exprs(child.keys)
            elif isinstance(child, ast.MatchClass):
                self.expr(child.cls)

    # -- expressions ---------------------------------------------------------------------

    def exprs(self, nodes: Iterable[ast.expr | None]) -> None:
        for node in nodes:
            if node is not None:
                self.expr(node)

    def expr(self, node: ast.expr) -> None:
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                self.read(node.id)
            elif isinstance(node.ctx, ast.Store):
                self.bind(node.id)
            else:  # del x: the kernel's x, unless the cell bound it
                self.read(node.id)
                self.bound.discard(node.id)
        elif isinstance(node, ast.NamedExpr):
            self.expr(node.value)
            self.bind(node.target.id)
        elif isinstance(node, ast.Lambda):
            self.arguments(node.args)
            self.scope(node, "lambda", deferred=True)
        elif type(node) in _COMPREHENSIONS:
            generators: list[ast.comprehension] = node.generators  # type: ignore[attr-defined]
            self.expr(generators[0].iter)  # evaluated in the enclosing scope
            self.scope(node, _COMPREHENSIONS[type(node)], deferred=False)
            for child in ast.walk(node):  # a walrus in a comprehension binds out here
                if isinstance(child, ast.NamedExpr):
                    self.bind(child.target.id)
        else:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.expr):
                    self.expr(child)
                elif isinstance(child, ast.keyword):
                    self.expr(child.value)

    def arguments(self, args: ast.arguments) -> None:
        """What a def or lambda evaluates where it stands: defaults and annotations."""
        self.exprs(args.defaults)
        self.exprs(args.kw_defaults)
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
        self.exprs(arg.annotation for arg in every if arg is not None)

    # -- nested scopes -------------------------------------------------------------------

    def scope(self, node: ast.AST, name: str, deferred: bool) -> None:
        key = id(node)
        if key not in self.table_of:  # a loop's second pass meets the node again
            tables = self.tables.get((name, getattr(node, "lineno", 0)), [])
            self.table_of[key] = tables.pop(0) if tables else None
        table = self.table_of[key]
        if table is None:  # not matched (another Python's symtable): every name is a global
            self.unmatched_scope(node)
        else:
            self.scope_reads(table, deferred)

    def scope_reads(self, table: symtable.SymbolTable, deferred: bool) -> None:
        """The globals a nested scope reads: now (a class body or a comprehension run as they
        are reached) or later (a function's body, run when called), and those it binds."""
        runs_now = not deferred and (table.get_type() == "class"
                                     or table.get_name() in _COMPREHENSIONS.values())
        for symbol in table.get_symbols():
            name = symbol.get_name()
            if symbol.is_declared_global() and (symbol.is_assigned() or symbol.is_imported()):
                self.bind(name)  # when the function runs; taken as bound from its definition on
            if symbol.is_referenced() and symbol.is_global():
                if runs_now:
                    self.read(name)
                elif self.recording:
                    self.deferred_reads.append(name)
        for child in table.get_children():
            self.scope_reads(child, deferred=not runs_now)

    def unmatched_scope(self, node: ast.AST) -> None:
        names = [child for child in ast.walk(node) if isinstance(child, ast.Name)]
        own = {name.id for name in names if not isinstance(name.ctx, ast.Load)}
        for child in ast.walk(node):
            if isinstance(child, ast.arg):
                own.add(child.arg)
        if self.recording:
            self.deferred_reads.extend(name.id for name in names
                                       if isinstance(name.ctx, ast.Load) and name.id not in own)


# -- IPython and files ----------------------------------------------------------------------


def _ipython_uses(tree: ast.AST) -> dict[str, None]:
    """``get_ipython().run_line_magic('timeit', …)`` → "%timeit"; ``.system('ls')`` → "!ls"."""
    found: dict[str, None] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value
        if not (isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name)
                and owner.func.id == "get_ipython"):
            continue
        prefix = _MAGIC_CALLS.get(node.func.attr)
        first = node.args[0] if node.args else None
        if prefix and isinstance(first, ast.Constant) and isinstance(first.value, str):
            text = first.value.split()[0] if prefix == "!" and first.value.split() else first.value
            found.setdefault(prefix + text)
        else:
            found.setdefault(f"get_ipython().{node.func.attr}")
    return found


def _file_reads(tree: ast.AST, bound: set[str]) -> list[str]:
    aliases = _import_aliases(tree)
    found: dict[str, None] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        written = dotted_name(node.func) or _shortened(ast.unparse(node.func))
        if isinstance(node.func, ast.Name):
            if node.func.id == "open" and "open" not in bound and _open_reads(node):
                found.setdefault("open")
            elif aliases.get(node.func.id) in _FILE_FUNCTIONS:
                found.setdefault(node.func.id)
        elif isinstance(node.func, ast.Attribute):
            attribute = node.func.attr
            if (attribute.startswith("read_") or attribute in _FILE_METHODS
                    or _qualified(written, aliases) in _FILE_FUNCTIONS):
                found.setdefault(written)
    return list(found)


def _open_reads(call: ast.Call) -> bool:
    """Whether ``open(…)`` may read: unless its mode is a literal that only writes."""
    mode: ast.expr | None = call.args[1] if len(call.args) > 1 else None
    for keyword in call.keywords:
        if keyword.arg == "mode":
            mode = keyword.value
    if mode is None:
        return True  # "r" is the default
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return "r" in mode.value or "+" in mode.value
    return True


def _import_aliases(tree: ast.AST) -> dict[str, str]:
    """The cell's imported names → what they stand for: np → numpy, ZipFile → zipfile.ZipFile."""
    aliases = dict(_USUAL_ALIASES)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def dotted_name(node: ast.expr) -> str | None:
    """``pd.read_csv`` for an attribute chain on a name; None for anything else."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _shortened(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _qualified(dotted: str, aliases: dict[str, str]) -> str:
    head, _, rest = dotted.partition(".")
    return f"{aliases.get(head, head)}.{rest}" if rest else aliases.get(head, head)


__all__ = ["CellScope", "analyze_cell", "defined_names"]
