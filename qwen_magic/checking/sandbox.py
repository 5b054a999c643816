"""Run generated code against examples in a separate, limited, short-lived Python process.

Never in the user's kernel: the code is the model's, the kernel holds the user's work. What
this isolates and what it does not is in docs/checking.md. Two layers:

- The operating system's isolation (``isolation.py``), the strongest this machine allows:
  Linux namespaces through bubblewrap or util-linux's ``unshare`` — no network, only its own
  processes (all killed when the run ends), a filesystem of its own with the scratch folder
  in a size-limited tmpfs — down to none at all (``limited process only``).
- The limits the child (``_child.py``, passed as text to ``python -I -S -c``) sets on itself
  before anything of the user's runs: time, CPU, memory, processes, file size, open files.

The parent starts it with ``subprocess.Popen`` — no ``preexec_fn``, which is unsafe in a
kernel with threads — in a new session, and kills that whole process group when it finishes
or runs out of time. When the kernel runs as root, which RLIMIT_NPROC does not bind, the child
runs as a uid of its own (``check_user.py``) whose every process is killed after the run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import signal
import site
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from qwen_magic.checking import isolation as isolation_
from qwen_magic.checking.check_user import CheckUser, kill_all_processes, reserved_user
from qwen_magic.checking.examples import Example
from qwen_magic.checking.isolation import Isolation, IsolationUnavailableError
from qwen_magic.checking.scratch import remove_entries_of, remove_tree
from qwen_magic.checking.undumpable import kernel_hidden
from qwen_magic.errors import QwenMagicError

_CHILD_SOURCE = (Path(__file__).parent / "_child.py").read_text(encoding="utf-8")
_RESULTS_LIMIT = 4 << 20  # bytes of the child's report read back
_STDERR_TAIL = 4096  # bytes of the child's stderr kept, for the last line of a crash
_GONE_TIMEOUT_S = 2.0  # how long to wait for a killed process group to disappear
# Where a child without a private filesystem may leave files, swept as root (its uid is
# the check's own, so whatever it owns there is the check's).
_SHARED_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm")


class CheckUnavailableError(QwenMagicError):
    """The check cannot run here (no POSIX, no free check user, or an interpreter it cannot run)."""


@dataclass(frozen=True)
class Limits:
    """What one check run may use. The defaults fit ``import pandas`` with room to spare."""

    wall_s: float = 10.0  # wall clock for the whole run: start-up, the code, every example
    cpu_s: int = 10  # CPU seconds per process (RLIMIT_CPU)
    # Address space per process (RLIMIT_AS). `import pandas` (numpy 2.4, pandas 3.1, one BLAS
    # thread) peaks at 152 MB of address space, bare Python at 13 MB; 1 GB leaves room for
    # real data and makes a runaway allocation fail fast as a MemoryError.
    memory_mb: int = 1024
    # Processes and threads the code may add (RLIMIT_NPROC is set to the child user's
    # current count plus this): enough for a small pool, not for a fork bomb.
    processes: int = 32
    file_mb: int = 16  # the largest file the code may write (RLIMIT_FSIZE)
    open_files: int = 256  # RLIMIT_NOFILE
    # With a private filesystem: the size of the tmpfs over /tmp (the scratch folder and
    # $HOME are in it) and of the one over /dev/shm; RAM, freed when the run ends.
    disk_mb: int = 64

    def __post_init__(self) -> None:
        for name in ("wall_s", "cpu_s", "memory_mb", "processes", "file_mb", "open_files",
                     "disk_mb"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Limits.{name} must be positive, not {getattr(self, name)!r}")


@dataclass(frozen=True)
class ExampleResult:
    example: Example
    passed: bool
    got: str  # what it printed / returned (repr), or the exception's line; short


@dataclass(frozen=True)
class CheckRun:
    """The outcome of one run: a result for each example that ran, in order."""

    results: tuple[ExampleResult, ...]
    # One line when the code itself could not run or the run was cut short: "SyntaxError:
    # invalid syntax (line 3)", "ZeroDivisionError: division by zero (line 5)", "timed out
    # after 10 s while running >>> f(2)  →  4", "exited with status 3", …; or "could not
    # verify: …" when the child's report could not be read.
    error: str | None
    seconds: float
    not_run: tuple[Example, ...] = ()  # the examples after the point where the run stopped
    isolation: str = ""  # the Isolation level's value it ran at ("bubblewrap", … "process")
    output: str = ""  # what the code printed at its top level (its first 1,000 characters)
    lines_run: frozenset[int] = frozenset()  # the code's lines that ran, when traced

    @property
    def passed(self) -> int:
        return sum(result.passed for result in self.results)

    @property
    def total(self) -> int:
        return len(self.results) + len(self.not_run)

    @property
    def ok(self) -> bool:
        return self.error is None and self.passed == self.total


def run_examples(code: str, examples: Sequence[Example], limits: Limits = Limits(), *,
                 python: str | None = None, isolation: Isolation | str | None = None,
                 trace_lines: bool = False) -> CheckRun:
    """Run ``code`` as a fresh main module in a child process, then each example against it.
    With ``trace_lines`` the run says which of the code's lines ran (``CheckRun.lines_run``).

    ``isolation`` forces a level (else $QWEN_MAGIC_CHECK_ISOLATION, else the strongest this
    machine provides: :func:`isolation_level`). ``python`` is the interpreter for the child; by
    default the kernel's own, or — when the kernel is root and the check's user cannot run
    that one — a system Python of the same version that it can, with the kernel's
    site-packages. Raises CheckUnavailableError when there is none, or when a forced level
    cannot be set up here.
    """
    if os.name != "posix":
        raise CheckUnavailableError("--check needs Linux or another POSIX system (it uses rlimits).")
    level = _level(isolation)
    examples = tuple(examples)
    with _child_user() as user:
        return _run(code, examples, limits, python, level, user, trace_lines)


def _level(isolation: Isolation | str | None) -> Isolation:
    try:
        if isinstance(isolation, str):
            return Isolation.named(isolation)
        return isolation or isolation_level()
    except IsolationUnavailableError as exc:
        raise CheckUnavailableError(str(exc)) from None


def _run(code: str, examples: tuple[Example, ...], limits: Limits, python: str | None,
         level: Isolation, user: CheckUser | None, trace_lines: bool) -> CheckRun:
    site_dirs = tuple(d for d in site.getsitepackages() if os.path.isdir(d))
    python = _choose_python(python, user, site_dirs)
    started = time.monotonic()
    fs = (isolation_.filesystem(python, site_dirs, limits.disk_mb)
          if level.private_filesystem else None)
    workdir = None if fs else tempfile.mkdtemp(prefix="qwen-check-")
    scratch = fs.scratch if fs else str(workdir)
    try:
        if workdir is not None and user is not None:
            os.chown(workdir, user.uid, user.gid)
        with tempfile.TemporaryFile() as job, tempfile.TemporaryFile() as results, \
                tempfile.TemporaryFile() as stderr, tempfile.TemporaryFile() as status:
            # Anonymous files, not pipes: nothing can block on a full pipe, the parent only
            # waits, and the child (as another user) reaches them through the descriptors.
            job.write(json.dumps({
                "code": code,
                "examples": [{"source": e.source, "expected": e.expected} for e in examples],
                "limits": dataclasses.asdict(limits), "site_dirs": list(site_dirs),
                "results_fd": results.fileno(), "trace_lines": trace_lines,
            }).encode("utf-8"))
            job.seek(0)
            try:
                argv = isolation_.command(level, [python, "-I", "-S", "-c", _CHILD_SOURCE],
                                          status_fd=status.fileno(), scratch=scratch, fs=fs)
            except IsolationUnavailableError as exc:
                raise CheckUnavailableError(str(exc)) from None
            passed_fds = (results.fileno(), status.fileno()) if level.namespaces else (results.fileno(),)
            # A child of the kernel's own user that sees the machine's /proc could read the
            # kernel's environment and memory there: not while the kernel is non-dumpable.
            with kernel_hidden(user is None and not level.private_filesystem
                               and os.geteuid() != 0):
                process = subprocess.Popen(
                    argv, stdin=job, stdout=subprocess.DEVNULL, stderr=stderr,
                    cwd=workdir or "/", env=_environment(scratch), start_new_session=True,
                    close_fds=True, pass_fds=passed_fds, **_as_user(user))
                try:
                    finished = _wait_unreaped(process, limits.wall_s)
                finally:  # a timeout, a normal end, or the user interrupting the kernel
                    _kill_group(process)
                    if user is not None:  # what left the group (setsid) is still its uid's
                        kill_all_processes(user)
            end = _read_status(status) if level.namespaces else {}
            records, unreadable = _read_records(results)
            stderr_tail = _tail(stderr)
    finally:
        if workdir is not None:
            remove_tree(workdir)
        if user is not None and not level.private_filesystem:
            remove_entries_of(user.uid, _SHARED_WRITABLE)
    if "setup" in end:
        raise CheckUnavailableError(
            f"--check could not set up its isolation ({level.value}): {end['setup']}; "
            f"set {isolation_.ENVIRONMENT_VARIABLE}=process to run without it.")
    returncode = process.returncode or 0  # the init's end says more than its wrapper's
    with contextlib.suppress(TypeError, ValueError):
        if "signal" in end:
            returncode = -int(end["signal"])
        elif "exit" in end:
            returncode = int(end["exit"])
    seconds = time.monotonic() - started
    if unreadable:
        return CheckRun((), f"could not verify: {unreadable}", round(seconds, 3), examples,
                        isolation=level.value)
    try:
        run = _outcome(examples, records, returncode, finished, stderr_tail, limits, seconds)
    except Exception as exc:  # records shaped to break the reading (deep nesting, …)
        return CheckRun((), f"could not verify: the check's report was unusable "
                        f"({type(exc).__name__})", round(seconds, 3), examples,
                        isolation=level.value)
    return dataclasses.replace(run, isolation=level.value)


# -- which isolation this machine gets ------------------------------------------------------

_detected: Isolation | None = None
_detecting = threading.Lock()


def isolation_level() -> Isolation:
    """The level checks run at here: $QWEN_MAGIC_CHECK_ISOLATION if set, else the strongest
    level whose whole setup worked when tried, once per process (each try is a real check
    of a probe that asserts the level's namespaces from inside; ~0.1 s)."""
    global _detected
    forced = isolation_.forced_level()
    if forced is not None:
        return forced
    with _detecting:
        if _detected is None:
            _detected = next((level for level in isolation_.STRONGEST_FIRST
                              if level is Isolation.PROCESS or _works(level)), Isolation.PROCESS)
        return _detected


def isolation_label() -> str:
    """``isolated: namespaces (bubblewrap)`` … ``limited process only``: for %qwen status."""
    return isolation_level().label


def _works(level: Isolation) -> bool:
    code, examples = _probe(level)
    try:
        return run_examples(code, examples, Limits(wall_s=20), isolation=level).ok
    except (QwenMagicError, OSError):
        return False


def _probe(level: Isolation) -> tuple[str, tuple[Example, ...]]:
    """Code whose examples pass only inside ``level``'s namespaces: each namespace differs
    from the kernel's, the child is neither root nor PID 1, and with a private filesystem
    the kernel's process is not in its /proc and its scratch folder is in the tmpfs."""
    def namespace(name: str) -> str:
        try:
            return os.readlink(f"/proc/self/ns/{name}")
        except OSError:
            return ""

    names = ["user", "pid", "net", "ipc", "uts"] + (["mnt"] if level.private_filesystem else [])
    outer = {name: namespace(name) for name in names}
    code = ("import os\n"
            "def inner(name):\n    return os.readlink(f'/proc/self/ns/{name}')\n"
            f"OUTER = {outer!r}\n")
    asserts = ["assert all(inner(n) != v for n, v in OUTER.items())",
               f"assert os.getuid() == {isolation_.INSIDE_UID} and os.getpid() != 1"]
    if level.private_filesystem:
        asserts += [f"assert not os.path.exists('/proc/{os.getpid()}/environ') "
                    f"or {os.getpid()} < 10",
                    f"assert os.getcwd().startswith('{isolation_.SCRATCH_PARENT}/')",
                    "assert os.statvfs('/tmp').f_blocks * os.statvfs('/tmp').f_frsize "
                    "< 1 << 32"]
    return code, tuple(Example(line, None) for line in asserts)


# -- the child's process --------------------------------------------------------------------


@contextlib.contextmanager
def _child_user() -> Iterator[CheckUser | None]:
    """The check's own uid when the kernel is root (root ignores RLIMIT_NPROC), else None: as we are."""
    if os.geteuid() != 0:
        yield None
        return
    try:
        with reserved_user() as user:
            yield user
    except QwenMagicError as exc:
        if isinstance(exc, CheckUnavailableError):
            raise
        raise CheckUnavailableError(str(exc)) from None


# -- the child's process --------------------------------------------------------------------


def _environment(workdir: str) -> dict[str, str]:
    """Built from scratch: nothing of the kernel's environment (API keys, tokens) leaks in."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        "HOME": workdir, "TMPDIR": workdir,
        # One BLAS/OpenMP thread: less address space (numpy's OpenBLAS reserves memory per
        # thread) and no thread pool to count against RLIMIT_NPROC.
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    }


def _as_user(user: CheckUser | None) -> dict[str, Any]:
    # Popen applies these in C between fork and exec (no Python runs there), and drops the
    # supplementary groups too.
    if user is None:
        return {}
    return {"user": user.uid, "group": user.gid, "extra_groups": []}


def _choose_python(python: str | None, user: CheckUser | None,
                   site_dirs: tuple[str, ...]) -> str:
    if user is None:  # we run it as ourselves: whatever runs for us
        return python or sys.executable
    candidates = [python] if python else [sys.executable, *_same_version_pythons()]
    problems = [(candidate, _problem_as_user(candidate, user.uid, user.gid, site_dirs))
                for candidate in candidates]
    for candidate, problem in problems:
        if problem is None:
            return candidate
    first, problem = problems[0]
    raise CheckUnavailableError(
        f"--check runs the code as a user of its own ({user.name}; the kernel runs as root), "
        f"who cannot run {first}: {problem}{_blocking_directory_hint(first)}.")


def _same_version_pythons() -> list[str]:
    """System interpreters of this Python's version, for when the kernel's is under /root."""
    name = "python{}.{}".format(*sys.version_info[:2])
    found = [os.path.join(directory, name) for directory in ("/usr/local/bin", "/usr/bin", "/bin")]
    return [path for path in found if os.access(path, os.X_OK)
            and os.path.realpath(path) != os.path.realpath(sys.executable)]


@functools.cache
def _problem_as_user(python: str, uid: int, gid: int, site_dirs: tuple[str, ...]) -> str | None:
    """None when ``python`` starts as ``uid``, is this Python's version and can read the
    site-packages; else what went wrong. Run once per interpreter (~20 ms)."""
    probe = "import os, sys; [os.listdir(d) for d in sys.argv[1:]]; print('%d.%d' % sys.version_info[:2])"
    try:
        done = subprocess.run([python, "-I", "-S", "-c", probe, *site_dirs], capture_output=True,
                              text=True, timeout=30, cwd="/", env=_environment("/"),
                              user=uid, group=gid, extra_groups=[])
    except OSError as exc:
        return exc.strerror or str(exc)
    except subprocess.TimeoutExpired:
        return "it did not start within 30 s"
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return lines[-1] if lines else f"exit status {done.returncode}"
    version = "{}.{}".format(*sys.version_info[:2])
    if done.stdout.strip() != version:
        return f"it is Python {done.stdout.strip()}, the kernel's packages are for {version}"
    return None


def _blocking_directory_hint(path: str) -> str:
    """`` (/root is closed to other users; …)``: the usual cause, named."""
    for route in (Path(os.path.abspath(path)), Path(os.path.realpath(path))):
        for parent in reversed(route.parents):  # from / down: the first closed one blocks
            try:
                if not parent.stat().st_mode & stat.S_IXOTH:
                    return f" ({parent} is closed to other users; install Python outside it)"
            except OSError:
                break
    return ""


def _wait_unreaped(process: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait up to ``timeout`` for the child to exit, True if it did, *without reaping it*:
    while it is an unreaped zombie its pid cannot be reused, so killing its process group
    afterwards can only reach its own leftovers."""
    if not hasattr(os, "waitid"):  # macOS before Python 3.13: reap, and accept the tiny race
        try:
            process.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    deadline = time.monotonic() + timeout
    delay = 0.001
    while os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.02)
    return True


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's whole process group, reap the child, and wait briefly until none
    of the group runs: after a normal end there may be leftover grandchildren."""
    group = process.pid  # start_new_session: the child leads its own session and group
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
    deadline = time.monotonic() + _GONE_TIMEOUT_S
    while _group_runs(group) and time.monotonic() < deadline:
        time.sleep(0.005)


def _group_runs(group: int) -> bool:
    """Whether a process of ``group`` still runs. Killed orphans stay zombies until init
    reaps them, which some inits do only every second or two; they run nothing, so they
    are not waited for."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False  # the usual case: nothing left at all
    try:
        pids = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return True  # no /proc: zombies and all
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as file:
                data = file.read()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp …", where comm may hold spaces and parentheses.
        fields = data[data.rfind(b")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == group and fields[0] not in (b"Z", b"X"):
            return True
    return False


# -- the outcome ----------------------------------------------------------------------------


def _read_records(results: IO[bytes]) -> tuple[list[dict[str, Any]], str]:
    """The child's records, and why they cannot be trusted ("" when they can).

    The code can write to the results descriptor too, so anything may be there: a line
    that is not a JSON object (but a torn last one: the child was killed mid-write), or
    nested deep enough to break the parser, or more than is read back, means the report is
    not the child's own and the run is "could not verify".
    """
    try:
        results.seek(0)
        data = results.read(_RESULTS_LIMIT + 1)
        if len(data) > _RESULTS_LIMIT:
            return [], f"the check's report was larger than {_RESULTS_LIMIT >> 20} MB"
        lines = data.split(b"\n")
        torn = lines.pop()  # after the last newline: empty, or a record cut short
        records = []
        for line in lines:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a record")
            records.append(record)
        if torn:
            with contextlib.suppress(Exception):
                record = json.loads(torn)
                if isinstance(record, dict):
                    records.append(record)
        return records, ""
    except Exception as exc:  # ValueError, RecursionError, MemoryError's kin, OSError
        return [], f"the check's report was damaged ({type(exc).__name__}: something " \
                   "other than the check wrote to it)"


def _read_status(status: IO[bytes]) -> dict[str, Any]:
    """How the init saw the child end: {"exit": n}, {"signal": n}, {"setup": why}, or {}."""
    try:
        status.seek(0)
        end = json.loads(status.read(4096) or b"{}")
    except (OSError, ValueError):
        return {}
    return end if isinstance(end, dict) else {}


def _tail(stream: IO[bytes]) -> str:
    size = stream.seek(0, os.SEEK_END)
    stream.seek(max(size - _STDERR_TAIL, 0))
    lines = stream.read().decode("utf-8", "replace").strip().splitlines()
    return lines[-1].strip()[:300] if lines else ""


#: Characters of the code's own output kept: the child's 1,000 and its "… (N more)" note.
_OUTPUT_KEPT = 1100


def _outcome(examples: tuple[Example, ...], records: list[dict[str, Any]], returncode: int,
             finished: bool, stderr_tail: str, limits: Limits, seconds: float) -> CheckRun:
    events = {record.get("event") for record in records}
    results: list[ExampleResult] = []
    error: str | None = None
    output, lines_run = "", frozenset[int]()
    for record in records:
        if record.get("event") == "loaded":
            output = str(record.get("output", ""))[:_OUTPUT_KEPT]
            lines_run = frozenset(int(line) for line in record.get("lines_run", ()))
        elif record.get("event") == "error" and error is None:
            error = str(record.get("error"))[:500]
        elif (record.get("event") == "result" and len(results) < len(examples)
              and record.get("index") == len(results)):
            results.append(ExampleResult(examples[len(results)], bool(record.get("passed")),
                                         str(record.get("got"))))
    if error is None and "done" not in events:
        error = _abnormal_end(returncode, finished, stderr_tail, limits)
        if "loaded" not in events:
            error += " while running the code"
        elif len(results) < len(examples):
            error += f" while running {examples[len(results)].describe()}"
    return CheckRun(tuple(results), error, round(seconds, 3), examples[len(results):],
                    output=output, lines_run=lines_run)


def _abnormal_end(returncode: int, finished: bool, stderr_tail: str, limits: Limits) -> str:
    """Why the child stopped without saying it was done, in one line."""
    if not finished:
        return f"timed out after {limits.wall_s:g} s"
    if returncode < 0:
        name = _signal_name(-returncode)
        if -returncode == signal.SIGXCPU:
            return f"stopped at the CPU time limit ({limits.cpu_s} s)"
        if -returncode == signal.SIGKILL:
            return f"killed (SIGKILL: the CPU time limit of {limits.cpu_s} s, or out of memory)"
        if -returncode in (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT):
            return f"crashed with {name} (perhaps at the memory limit of {limits.memory_mb} MB)"
        return f"killed by {name}"
    detail = f": {stderr_tail}" if returncode and stderr_tail else ""
    return f"exited with status {returncode}{detail}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


__all__ = ["CheckRun", "CheckUnavailableError", "ExampleResult", "Limits", "isolation_label",
           "isolation_level", "run_examples"]
