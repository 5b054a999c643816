"""The check's child process: limit itself, run the code, run each example, report.

sandbox.py runs this file's *text* with ``python -I -S -c``, as another user when the kernel
is root, so it must need nothing but the standard library: not qwen_magic, not even a
readable path to this file. It reads one JSON job on stdin and writes JSON lines, one per
event, to the file descriptor ``results_fd`` the parent passed — not to stdout, where the
code's own prints go — each as it happens, so the parent has the examples run so far even
when a later one hangs or the process is killed.

The rlimits are set here, first thing, rather than in the parent between fork and exec
(``preexec_fn`` is unsafe in a kernel with threads); nothing of the user's has run yet.
"""

from __future__ import annotations

import ast
import builtins
import doctest
import io
import json
import linecache
import os
import resource
import site
import sys
import traceback
import types
from typing import Any, NoReturn

CODE_FILE = "<code>"  # the file name in tracebacks of the code itself
EXAMPLE_FILE = "<example>"
OUTPUT_LIMIT = 1 << 20  # characters of an example's output kept for the comparison
GOT_LIMIT = 1000  # characters of what an example printed/returned sent back


def main() -> None:
    job = json.loads(sys.stdin.buffer.read())
    report = Reporter(job["results_fd"])
    limits = job["limits"]
    set_limits(limits)
    add_site_dirs(job["site_dirs"])
    memory_note = f" (the memory limit is {limits['memory_mb']} MB)"

    # The code runs as the main module, as it will in the notebook (a fresh namespace, with
    # ``if __name__ == "__main__":`` blocks run); registered in sys.modules so that pickle,
    # dataclasses and typing find it, and in linecache so that tracebacks show its lines.
    module = types.ModuleType("__main__")
    module.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = module
    code = job["code"]
    linecache.cache[CODE_FILE] = (len(code), None, code.splitlines(True), CODE_FILE)
    printed = Capped(GOT_LIMIT)  # its top-level prints: what a corrected cell shows
    lines = LinesRun(enabled=bool(job.get("trace_lines")))
    try:
        with Redirected(printed), lines:
            exec(compile(code, CODE_FILE, "exec", dont_inherit=True), module.__dict__)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt too: never propagate
        report.send(event="error", error=exception_line(exc, memory_note) + where_in_code(exc))
        finish(report)
    report.send(event="loaded", output=printed.getvalue(), lines_run=sorted(lines.run))

    checker = doctest.OutputChecker()
    for index, example in enumerate(job["examples"]):
        if example["expected"] is None:
            passed, got = run_assert(example["source"], module.__dict__, memory_note)
        else:
            passed, got = run_doctest(example["source"], example["expected"], module.__dict__,
                                      checker, memory_note)
        got = got[:-1] if got.endswith("\n") else got  # print's last newline says nothing
        report.send(event="result", index=index, passed=passed, got=shorten(got, GOT_LIMIT))
    finish(report)


# -- the limits -----------------------------------------------------------------------------


def set_limits(limits: dict[str, Any]) -> None:
    mb = 1024 * 1024
    cap(resource.RLIMIT_CORE, 0)
    # SIGXCPU at the soft limit, SIGKILL one second later if it is caught or ignored.
    cap(resource.RLIMIT_CPU, limits["cpu_s"], limits["cpu_s"] + 1)
    cap(resource.RLIMIT_AS, limits["memory_mb"] * mb)
    cap(resource.RLIMIT_FSIZE, limits["file_mb"] * mb)
    cap(resource.RLIMIT_NOFILE, limits["open_files"])
    # RLIMIT_NPROC counts every process and thread of this (real) user, not of this process
    # tree: the limit is what the user has now plus what the code may add.
    tasks = tasks_of_user(os.getuid())
    if tasks is not None:
        cap(resource.RLIMIT_NPROC, tasks + limits["processes"])


def cap(which: int, soft: int, hard: int | None = None) -> None:
    """Lower a limit, soft and hard (so the code cannot raise it again), never above the
    current hard limit (only root may raise that)."""
    hard = soft if hard is None else hard
    _, current = resource.getrlimit(which)
    if current != resource.RLIM_INFINITY:
        soft, hard = min(soft, current), min(hard, current)
    resource.setrlimit(which, (soft, hard))


def tasks_of_user(uid: int) -> int | None:
    """Processes and threads of ``uid`` in this PID namespace, as visible in /proc (None
    without /proc: not Linux). Where /proc is the machine's (no private filesystem), tasks
    outside this namespace are told apart by the depth of their NSpid line: since Linux
    5.14 the kernel counts RLIMIT_NPROC per user namespace, so they do not count here."""
    try:
        pids = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return None
    own_depth = len(status_fields("self").get("NSpid", "").split())
    count = 0
    for pid in pids:
        fields = status_fields(pid)
        try:
            if (int(fields["Uid"].split()[0]) == uid
                    and len(fields.get("NSpid", "").split()) == own_depth):
                count += int(fields["Threads"])
        except (KeyError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to read
    return count


def status_fields(pid: str) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            return dict(line.split(":", 1) for line in status if ":" in line)
    except (OSError, ValueError):
        return {}


def add_site_dirs(site_dirs: list[str]) -> None:
    # -S left out the interpreter's own site-packages: the parent names the ones to use (its
    # own), so a same-version system Python still imports the kernel's packages.
    for directory in site_dirs:
        site.addsitedir(directory)  # runs its .pth files, as site would
    for setup in ("setquit", "setcopyright", "sethelper"):  # exit(), quit(), help() as usual
        getattr(site, setup, lambda: None)()


# -- the examples ---------------------------------------------------------------------------


def run_doctest(source: str, expected: str, globs: dict[str, Any], checker: doctest.OutputChecker,
                memory_note: str) -> tuple[bool, str]:
    """Run one doctest example as doctest's own runner does, and compare as it does."""
    example = as_doctest_example(source, expected)
    if example.options.get(doctest.SKIP):
        return True, "(skipped)"
    flags = 0
    for flag, on in example.options.items():  # `# doctest: +ELLIPSIS` directives
        flags = flags | flag if on else flags & ~flag
    output = Capped(OUTPUT_LIMIT)
    exception: BaseException | None = None
    with Redirected(output):
        try:
            # "single": an expression statement prints its value's repr, as at the prompt.
            exec(compile(example.source, EXAMPLE_FILE, "single", dont_inherit=True), globs)
        except BaseException as exc:
            exception = exc
    got = output.getvalue()
    if exception is None:
        return checker.check_output(example.want, got, flags), got
    exc_msg = traceback.format_exception_only(type(exception), exception)[-1]
    passed = False
    if example.exc_msg is not None:  # the want is a traceback: compare the exception lines
        passed = checker.check_output(example.exc_msg, exc_msg, flags)
        if not passed and flags & doctest.IGNORE_EXCEPTION_DETAIL:
            passed = exception_name(example.exc_msg) == exception_name(exc_msg)
    return passed, got + exception_line(exception, memory_note)


def as_doctest_example(source: str, expected: str) -> doctest.Example:
    """Rebuild the doctest text and let doctest parse it back, directives and all."""
    lines = source.split("\n")
    text = ">>> " + lines[0] + "\n" + "".join(f"... {line}\n" for line in lines[1:])
    text += expected + "\n" if expected else ""
    parsed = doctest.DocTestParser().get_examples(text)
    if len(parsed) == 1:
        return parsed[0]
    return doctest.Example(source + "\n", expected + "\n" if expected else "")


def exception_name(exc_msg: str) -> str:
    """``pkg.mod.Error: details`` → ``Error`` (what IGNORE_EXCEPTION_DETAIL compares)."""
    return exc_msg.split(":", 1)[0].strip().rsplit(".", 1)[-1]


def run_assert(source: str, globs: dict[str, Any], memory_note: str) -> tuple[bool, str]:
    """Run one assert; when it is ``assert X == Y`` and fails, ``got`` is X's repr."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return False, exception_line(exc, memory_note)
    statement = tree.body[0] if len(tree.body) == 1 else None
    test = statement.test if isinstance(statement, ast.Assert) else None
    with Redirected(Capped(0)):
        try:
            if (isinstance(test, ast.Compare) and len(test.ops) == 1
                    and isinstance(test.ops[0], ast.Eq)):
                # Each side evaluated once, left first, as the assert itself would.
                actual = evaluate(test.left, globs)
                wanted = evaluate(test.comparators[0], globs)
                if actual == wanted:
                    return True, safe_repr(actual)
                return False, safe_repr(actual)
            exec(compile(tree, EXAMPLE_FILE, "exec", dont_inherit=True), globs)
            return True, ""
        except BaseException as exc:
            return False, exception_line(exc, memory_note)


def evaluate(node: ast.expr, globs: dict[str, Any]) -> Any:
    expression = ast.fix_missing_locations(ast.Expression(node))
    return eval(compile(expression, EXAMPLE_FILE, "eval", dont_inherit=True), globs)


def safe_repr(value: Any) -> str:
    try:
        return shorten(repr(value), GOT_LIMIT)
    except Exception as exc:
        return f"<repr failed: {type(exc).__name__}>"


# -- text -----------------------------------------------------------------------------------


def exception_line(exc: BaseException, memory_note: str = "") -> str:
    """``ValueError: bad`` — the exception's last line, short."""
    if isinstance(exc, SyntaxError):
        line = f"{type(exc).__name__}: {exc.msg}"
        return line + (f" (line {exc.lineno})" if exc.lineno and exc.filename == CODE_FILE else "")
    name = type(exc).__qualname__
    module = type(exc).__module__
    if module not in ("builtins", "__main__"):
        name = f"{module}.{name}"
    try:
        detail = str(exc)
    except Exception:
        detail = "<unprintable>"
    line = f"{name}: {detail}" if detail else name
    if isinstance(exc, MemoryError):
        line += memory_note
    return shorten(line.replace("\n", " "), 300)


def where_in_code(exc: BaseException) -> str:
    """`` (line N)``: the innermost line of the code itself that the exception passed."""
    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__)
             if frame.filename == CODE_FILE]
    return f" (line {lines[-1]})" if lines else ""


def shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"… ({len(text) - limit} more characters)"


class Capped(io.TextIOBase):
    """A text stream that keeps its first ``limit`` characters and counts the rest: a flood
    of output costs neither the child's memory nor the parent's patience."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.kept = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        room = max(self.limit - self.kept, 0)
        if room:
            self.parts.append(text[:room])
            self.kept += min(room, len(text))
        self.dropped += max(len(text) - room, 0)
        return len(text)

    def getvalue(self) -> str:
        text = "".join(self.parts)
        return text + (f"… ({self.dropped} more characters)" if self.dropped else "")


class Redirected:
    """sys.stdout into ``stream`` for the duration, and sys.stderr into nothing: as in
    doctest, only stdout is compared. (The code's own writes to file descriptors 1 and 2
    go to the parent's /dev/null and a size-limited file.)"""

    def __init__(self, stream: io.TextIOBase) -> None:
        self.stream = stream

    def __enter__(self) -> None:
        self.saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = self.stream, Capped(0)

    def __exit__(self, *exc_info: object) -> None:
        sys.stdout, sys.stderr = self.saved


class LinesRun:
    """Which lines of the code ran, when ``enabled`` (``%qwen fix --check`` asks: does the
    corrected cell still run the lines the user wrote?). Only the code's own frames are
    traced line by line; a library's frames cost one call each."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.run: set[int] = set()

    def __enter__(self) -> None:
        def on_line(frame: types.FrameType, event: str, arg: object) -> Any:
            if event == "line":
                self.run.add(frame.f_lineno)
            return on_line

        def on_call(frame: types.FrameType, event: str, arg: object) -> Any:
            return on_line if frame.f_code.co_filename == CODE_FILE else None

        if self.enabled:
            sys.settrace(on_call)

    def __exit__(self, *exc_info: object) -> None:
        if self.enabled:
            sys.settrace(None)


class Reporter:
    """JSON lines on the results descriptor, each written whole as it happens."""

    def __init__(self, fd: int) -> None:
        # Bound now: the code may replace os.write or json.dumps in the shared modules.
        self.fd, self.write, self.dumps = fd, os.write, json.dumps

    def send(self, **record: Any) -> None:
        data = (self.dumps(record) + "\n").encode("utf-8", "replace")
        while data:
            data = data[self.write(self.fd, data):]


def finish(report: Reporter) -> NoReturn:
    report.send(event="done")
    # Straight out: no waiting for threads the code started, no atexit handlers of its own.
    os._exit(0)


if __name__ == "__main__":
    main()
