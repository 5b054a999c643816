"""Run generated code against examples in a separate, limited, short-lived Python process.

Never in the user's kernel: the code is the model's, the kernel holds the user's work. What
this isolates and what it does not is in docs/checking.md; in short, it bounds runaway code
(time, CPU, memory, processes, file size), keeps it out of the kernel's process, namespace and
environment, and gives it a scratch directory. It is not a security sandbox.

The child (``_child.py``, passed as text to ``python -I -S -c``) sets its own rlimits before
anything of the user's runs, and reports on a file descriptor of its own. The parent starts
it with ``subprocess.Popen`` — no ``preexec_fn``, which is unsafe in a kernel with threads —
in a new session, and kills that whole process group when it finishes or runs out of time.
When the kernel runs as root, which RLIMIT_NPROC does not bind, the child runs as ``nobody``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import pwd
import shutil
import signal
import site
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from qwen_magic.checking.examples import Example
from qwen_magic.errors import QwenMagicError

_CHILD_SOURCE = (Path(__file__).parent / "_child.py").read_text(encoding="utf-8")
_CHILD_USER = "nobody"
_RESULTS_LIMIT = 4 << 20  # bytes of the child's report read back
_STDERR_TAIL = 4096  # bytes of the child's stderr kept, for the last line of a crash
_GONE_TIMEOUT_S = 2.0  # how long to wait for a killed process group to disappear


class CheckUnavailableError(QwenMagicError):
    """The check cannot run here (no POSIX, no ``nobody`` user, or an interpreter it cannot run)."""


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

    def __post_init__(self) -> None:
        for name in ("wall_s", "cpu_s", "memory_mb", "processes", "file_mb", "open_files"):
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
    # after 10 s while running >>> f(2)  →  4", "exited with status 3", …
    error: str | None
    seconds: float
    not_run: tuple[Example, ...] = ()  # the examples after the point where the run stopped

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
                 python: str | None = None) -> CheckRun:
    """Run ``code`` as a fresh main module in a child process, then each example against it.

    ``python`` is the interpreter for the child; by default the kernel's own, or — when the
    kernel is root and ``nobody`` cannot run that one — a system Python of the same version
    that it can, with the kernel's site-packages. Raises CheckUnavailableError when there is none.
    """
    if os.name != "posix":
        raise CheckUnavailableError("--check needs Linux or another POSIX system (it uses rlimits).")
    examples = tuple(examples)
    user = _child_user()
    site_dirs = tuple(d for d in site.getsitepackages() if os.path.isdir(d))
    python = _choose_python(python, user, site_dirs)

    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="qwen-check-")
    try:
        if user is not None:
            os.chown(workdir, user.pw_uid, user.pw_gid)
        with tempfile.TemporaryFile() as job, tempfile.TemporaryFile() as results, \
                tempfile.TemporaryFile() as stderr:
            # Anonymous files, not pipes: nothing can block on a full pipe, the parent only
            # waits, and the child (as nobody) reaches them through the descriptors alone.
            job.write(json.dumps({
                "code": code,
                "examples": [{"source": e.source, "expected": e.expected} for e in examples],
                "limits": dataclasses.asdict(limits), "site_dirs": list(site_dirs),
                "results_fd": results.fileno(),
            }).encode("utf-8"))
            job.seek(0)
            process = subprocess.Popen(
                [python, "-I", "-S", "-c", _CHILD_SOURCE],
                stdin=job, stdout=subprocess.DEVNULL, stderr=stderr, cwd=workdir,
                env=_environment(workdir), start_new_session=True, close_fds=True,
                pass_fds=(results.fileno(),), **_as_user(user))
            try:
                finished = _wait_unreaped(process, limits.wall_s)
            finally:  # a timeout, a normal end, or the user interrupting the kernel
                _kill_group(process)
            records = _read_records(results)
            stderr_tail = _tail(stderr)
    finally:
        _remove_tree(workdir)
    return _outcome(examples, records, process.returncode, finished, stderr_tail, limits,
                    time.monotonic() - started)


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


def _child_user() -> pwd.struct_passwd | None:
    """``nobody`` when the kernel is root (root ignores RLIMIT_NPROC), else None: as we are."""
    if os.geteuid() != 0:
        return None
    try:
        user = pwd.getpwnam(_CHILD_USER)
    except KeyError:
        raise CheckUnavailableError(
            f"--check runs the code as user '{_CHILD_USER}' when the kernel runs as root, and "
            f"this system has no such user; create it or run the kernel as another user.") from None
    if user.pw_uid == 0:
        raise CheckUnavailableError(f"--check: user '{_CHILD_USER}' is root here; it must not be.")
    return user


def _as_user(user: pwd.struct_passwd | None) -> dict[str, Any]:
    # Popen applies these in C between fork and exec (no Python runs there), and drops the
    # supplementary groups too.
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _choose_python(python: str | None, user: pwd.struct_passwd | None,
                   site_dirs: tuple[str, ...]) -> str:
    if user is None:  # we run it as ourselves: whatever runs for us
        return python or sys.executable
    candidates = [python] if python else [sys.executable, *_same_version_pythons()]
    problems = [(candidate, _problem_as_user(candidate, user.pw_uid, user.pw_gid, site_dirs))
                for candidate in candidates]
    for candidate, problem in problems:
        if problem is None:
            return candidate
    first, problem = problems[0]
    raise CheckUnavailableError(
        f"--check runs the code as user '{user.pw_name}' (the kernel runs as root), who cannot "
        f"run {first}: {problem}{_blocking_directory_hint(first)}.")


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


def _remove_tree(path: str) -> None:
    # The code may have left directories it made unwritable; open them up first (never
    # through a symlink, which may point anywhere).
    for root, dirs, _ in os.walk(path):
        for name in dirs:
            child = os.path.join(root, name)
            try:
                if stat.S_ISDIR(os.lstat(child).st_mode):
                    os.chmod(child, 0o700)
            except OSError:
                pass
    shutil.rmtree(path, ignore_errors=True)


# -- the outcome ----------------------------------------------------------------------------


def _read_records(results: IO[bytes]) -> list[dict[str, Any]]:
    results.seek(0)
    records = []
    for line in results.read(_RESULTS_LIMIT).splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a torn last line, or something the code wrote there
        if isinstance(record, dict):
            records.append(record)
    return records


def _tail(stream: IO[bytes]) -> str:
    size = stream.seek(0, os.SEEK_END)
    stream.seek(max(size - _STDERR_TAIL, 0))
    lines = stream.read().decode("utf-8", "replace").strip().splitlines()
    return lines[-1].strip()[:300] if lines else ""


def _outcome(examples: tuple[Example, ...], records: list[dict[str, Any]], returncode: int,
             finished: bool, stderr_tail: str, limits: Limits, seconds: float) -> CheckRun:
    events = {record.get("event") for record in records}
    results: list[ExampleResult] = []
    error: str | None = None
    for record in records:
        if record.get("event") == "error" and error is None:
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
    return CheckRun(tuple(results), error, round(seconds, 3), examples[len(results):])


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


__all__ = ["CheckRun", "CheckUnavailableError", "ExampleResult", "Limits", "run_examples"]
