"""--check against hostile code: each probe of issue 19 at each isolation level, no model.

The code is handed straight to ``run_examples``, as an attacker's answer would reach it. Every
level runs every probe, and each test asserts the level's promise as docs/checking.md's table
states it — where a level does not stop something, the test asserts that too, so the table
cannot drift from the truth. ``bubblewrap`` and ``unshare`` are the namespace levels (the
first needs ``scripts/ensure-bubblewrap.sh``, run by ``make test``); ``userns`` stands for a
machine that allows user namespaces and refuses mounts in them; ``process`` for one that
refuses namespaces. Each level is forced through ``run_examples(isolation=…)``.

Safe as root and as a normal user: the only files changed are the test's own (under
``tmp_path``, or named with the test's token in /tmp and /dev/shm, removed afterwards), the
only processes killed are the probes' own. As root (CI), ``test_the_same_suite_as_a_normal_user``
runs this module again as an unprivileged uid, so the kernel-not-root case is tested too.
Daemons wait a fixed few seconds; the whole module takes about a minute (twice, as root).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import site
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qwen_magic.checking import CheckRun, Example, Limits, extract_examples, run_examples
from qwen_magic.checking.check_user import CheckUser, kill_all_processes
from qwen_magic.checking.isolation import SYSTEM_PATHS, Isolation
from qwen_magic.checking.scratch import remove_tree

LEVELS = [level.value for level in Isolation]
ROOT = os.geteuid() == 0
NESTED = "QWEN_MAGIC_ISOLATION_SUITE_NESTED"  # set in the normal-user rerun of this module
NORMAL_UID = 2_099_000_000  # the normal user of that rerun: no account, no process of its own
DAEMON_S = 3.0  # how long a probe's daemon lives (it would write its marker at half of it)


def promises(level: str) -> dict[str, bool]:
    """docs/checking.md's table: what each level stops, for this kernel's user."""
    namespaces = level != "process"
    private = level in ("bubblewrap", "unshare")
    return {
        "kernel memory and environment": True,  # other uid as root; else non-dumpable
        "processes killed at the end": namespaces or ROOT,
        "other checks invisible": private,
        "other checks unsignalable": namespaces or ROOT,
        "nothing left in /tmp or /dev/shm": private or ROOT,
        "no network": namespaces,
        "no user namespace of its own": namespaces,
    }


def run(code: str, request: str, level: str, **limits: float) -> CheckRun:
    return run_examples(textwrap.dedent(code), extract_examples(textwrap.dedent(request)),
                        Limits(**limits), isolation=level)  # type: ignore[arg-type]


def value(check: CheckRun, index: int = 0) -> object:
    assert check.error is None, check
    return eval(check.results[index].got)  # the repr of what the sandboxed code returned


def named_processes(name: str) -> list[int]:
    """Running processes of the machine whose comm is ``name`` (the probes rename theirs)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/comm").read_text().strip() == name:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                if state not in ("Z", "X"):
                    found.append(int(pid))
    return found


def kill_named(name: str) -> None:
    for pid in named_processes(name):  # only what this test's probes started
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def token() -> str:
    return "qd" + secrets.token_hex(5)  # 12 characters: fits a comm (15)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder of the test's that the check's user can write to, when it shares our
    filesystem (pytest's own folders are closed to other users when we are root)."""
    folder = Path(tempfile.mkdtemp(prefix="qwen-iso-"))
    folder.chmod(0o777)
    yield folder
    remove_tree(str(folder))


RENAME = """\
    import ctypes, os, time
    libc = ctypes.CDLL(None, use_errno=True)
    def rename_process(name):
        libc.prctl(15, name.encode(), 0, 0, 0)  # PR_SET_NAME: how the test finds it
    def daemon(seconds, work=None):
        '''A setsid'ed grandchild that outlives the code unless the level kills it.'''
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                rename_process(TOKEN)
                end = time.monotonic() + seconds
                try:
                    if work:
                        work(end)
                    while time.monotonic() < end:
                        time.sleep(0.05)
                finally:
                    os._exit(0)
            os._exit(0)
        os.wait()
    """


def probe_code(token: str, body: str = "") -> str:
    return f"TOKEN = {token!r}\n" + textwrap.dedent(RENAME) + textwrap.dedent(body)


# -- the kernel's /proc entries -------------------------------------------------------------


@pytest.mark.parametrize("level", LEVELS)
def test_the_kernels_environ_and_memory_cannot_be_read(level: str):
    code = """\
        import os
        def attempt(pid):
            try:
                with open(f'/proc/{pid}/environ', 'rb') as env:
                    env.read(64)
                with open(f'/proc/{pid}/maps') as maps:
                    start = int(maps.readline().split('-')[0], 16)
                with open(f'/proc/{pid}/mem', 'rb') as mem:
                    mem.seek(start)
                    return len(mem.read(16))
            except (OSError, ValueError) as exc:
                return type(exc).__name__
        """
    check = run(code, f">>> attempt('self')\n>>> attempt({os.getpid()})\n", level)
    assert value(check, 0) == 16  # the probe itself works: its own memory is readable
    assert promises(level)["kernel memory and environment"]
    assert value(check, 1) in ("FileNotFoundError", "PermissionError"), check


# -- processes ------------------------------------------------------------------------------


@pytest.mark.parametrize("level", LEVELS)
def test_a_setsid_daemon_is_gone_when_the_check_returns(level: str, token: str, shared_dir: Path):
    marker = shared_dir / "marker"
    code = probe_code(token, f"""\
        def write_marker(end):
            time.sleep({DAEMON_S / 2})
            with open({str(marker)!r}, 'w') as out:
                out.write('alive')
        daemon({DAEMON_S}, write_marker)
        """)
    try:
        check = run(code, ">>> 1\n1\n", level)
        assert check.ok, check
        survivors = named_processes(token)
        time.sleep(DAEMON_S)  # a fixed wait: long enough for the marker to appear
        if promises(level)["processes killed at the end"]:
            assert survivors == [] and not marker.exists()
        else:  # as documented: as the kernel's own user, a daemon outlives the check
            assert survivors and marker.read_text() == "alive"
    finally:
        kill_named(token)


@pytest.mark.parametrize("level", LEVELS)
def test_a_second_check_cannot_see_or_signal_the_first(level: str, token: str):
    # Its daemon outlives the first check's wait (it is killed at the end either way).
    first_code = probe_code(token, "daemon(15)\n") + textwrap.dedent("""\
        def alive():
            for pid in (p for p in os.listdir('/proc') if p.isdigit()):
                try:
                    if open(f'/proc/{pid}/comm').read().strip() == TOKEN:
                        return True
                except OSError:
                    pass  # gone meanwhile
            return False

        def still_running():
            deadline = time.monotonic() + 5.0
            while not alive() and time.monotonic() < deadline:
                time.sleep(0.02)  # the daemon has not named itself yet
            # Up to 8 s for the second check to start and try its kill (a loaded machine is
            # slow to start a process); gone sooner means it was killed.
            deadline = time.monotonic() + 8.0
            while time.monotonic() < deadline:
                if not alive():
                    return False
                time.sleep(0.1)
            return True
        """)
    second_code = textwrap.dedent(f"""\
        import os, signal
        def hunt():
            seen = []
            for pid in (p for p in os.listdir('/proc') if p.isdigit()):
                try:
                    if open(f'/proc/{{pid}}/comm').read().strip() == {token!r}:
                        seen.append(int(pid))
                except OSError:
                    pass
            killed = 0
            for pid in seen:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                except OSError:
                    pass
            return len(seen), killed
        """)
    first: list[CheckRun] = []
    thread = threading.Thread(target=lambda: first.append(
        run(first_code, ">>> still_running()\nTrue\n", level, wall_s=30)))
    try:
        thread.start()
        deadline = time.monotonic() + 15  # a loaded machine starts the sandbox slowly
        while not named_processes(token) and time.monotonic() < deadline:
            time.sleep(0.02)
        if not named_processes(token):
            thread.join(timeout=40)
            raise AssertionError(f"the first check's daemon did not start: {first}")
        seen, killed = value(run(second_code, ">>> hunt()\n", level))  # type: ignore[misc]
        thread.join(timeout=40)
        promised = promises(level)
        assert (seen == 0) == promised["other checks invisible"]
        assert (killed == 0) == promised["other checks unsignalable"]
        assert first[0].ok == promised["other checks unsignalable"], first[0]
    finally:
        thread.join(timeout=20)
        kill_named(token)


# -- files ----------------------------------------------------------------------------------


@pytest.mark.parametrize("level", LEVELS)
def test_nothing_written_outside_the_scratch_folder_remains(level: str, token: str):
    places = [f"/tmp/{token}", f"/dev/shm/{token}"]
    code = f"""\
        import os
        def leave():
            written = []
            for path in {places!r} + ['in-scratch']:
                try:
                    with open(path, 'w') as out:
                        out.write('left')
                    written.append(path)
                except OSError:
                    pass
            os.makedirs('deep/er', exist_ok=True)
            os.chmod('deep', 0)
            return written
        """
    try:
        check = run(code, ">>> leave()\n>>> os.getcwd()\n", level)
        written = value(check)
        assert "in-scratch" in written  # type: ignore[operator]
        # The scratch folder itself is gone, its closed folders too (a tmpfs at the
        # namespace levels: there is no such path here at all).
        assert not os.path.exists(str(value(check, 1)))
        left = [path for path in places if os.path.lexists(path)]
        if promises(level)["nothing left in /tmp or /dev/shm"]:
            assert left == []
        else:  # as documented: the kernel's own user writes where it can, and it stays
            assert left == [path for path in places if os.path.isdir(os.path.dirname(path))]
    finally:
        for path in places:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


TOP = {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "run", "sbin", "tmp", "usr"}


def test_the_private_filesystem_shows_nothing_of_the_machine(token: str):
    bound = {Path(path).parts[1] for path in [*site.getsitepackages(), sys.prefix,
                                              sys.base_prefix, sys.executable]}
    etc = sorted(Path(path).name for path in SYSTEM_PATHS
                 if path.startswith("/etc/") and os.path.exists(path))
    for level in ("bubblewrap", "unshare"):
        check = run("import os\n", f"""\
            >>> set(os.listdir('/')) - {bound!r} <= {TOP!r}
            True
            >>> os.path.exists({str(Path.home())!r} + '/.ssh'), os.path.exists('/run/docker.sock')
            (False, False)
            >>> sorted(os.listdir('/etc'))
            {etc!r}
            >>> len([p for p in os.listdir('/proc') if p.isdigit()]) <= 3, os.getuid(), os.getpid() > 1
            (True, 1000, True)
            >>> open('/usr/{token}', 'w')
            Traceback (most recent call last):
            OSError: [Errno 30] Read-only file system: '/usr/{token}'
            >>> for name in ('big', 'big2'): n = open('/tmp/' + name, 'wb').write(bytes(15 << 20))
            Traceback (most recent call last):
            OSError: [Errno 28] No space left on device
            """, level, disk_mb=20)
        assert check.ok, (level, check)


# -- network --------------------------------------------------------------------------------


@pytest.mark.parametrize("level", LEVELS)
def test_a_listener_on_loopback_cannot_be_reached(level: str):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        check = run("""\
            import socket
            def connect(port):
                try:
                    socket.create_connection(('127.0.0.1', port), timeout=2).close()
                    return 'connected'
                except OSError as exc:
                    return type(exc).__name__
            """, f">>> connect({port})\n", level)
    reached = value(check) == "connected"
    assert reached != promises(level)["no network"], check


# -- privileges ------------------------------------------------------------------------------


@pytest.mark.parametrize("level", LEVELS)
def test_the_child_holds_no_capability_and_cannot_make_a_user_namespace(level: str):
    check = run("""\
        import os, subprocess
        def field(name):
            with open('/proc/self/status') as status:
                return next(line.split()[1] for line in status if line.startswith(name + ':'))
        """, """\
        >>> field('CapEff'), field('CapPrm'), field('CapAmb')
        ('0000000000000000', '0000000000000000', '0000000000000000')
        >>> subprocess.run(['unshare', '--user', 'true'], capture_output=True).returncode != 0
        """, level)
    assert check.results[0].passed, check
    refused = check.results[1].got == "True"
    assert refused == promises(level)["no user namespace of its own"], check
    if level != "process":  # nothing to gain back by exec (setuid files, file capabilities)
        assert value(run("def field(name):\n    return open('/proc/self/status').read()"
                         ".split(name + ':')[1].split()[0]\n",
                         ">>> field('CapBnd'), field('NoNewPrivs')\n", level)) == (
            "0000000000000000", "1")


# -- cleanup as root against a daemon swapping folders and symlinks -------------------------


RACE = """\
    SYS_RENAMEAT2 = {'x86_64': 316, 'aarch64': 276}[os.uname().machine]
    def swap(end):
        # Folders the cleanup must open up (mode 0), exchanged with symlinks to the target
        # again and again, so that a cleanup following a name would reach the target.
        os.chdir(SCRATCH)
        while time.monotonic() < end:
            for i in range(20):
                try:
                    if not os.path.islink(f'd{i}'):  # never through a link itself:
                        os.makedirs(f'd{i}/sub', exist_ok=True)  # only the cleanup may
                        os.chmod(f'd{i}/sub', 0)
                        os.chmod(f'd{i}', 0)
                    if not os.path.lexists(f'l{i}'):
                        os.symlink(TARGET, f'l{i}')
                    libc.syscall(SYS_RENAMEAT2, -100, f'd{i}'.encode(), -100, f'l{i}'.encode(), 2)
                except OSError:
                    pass
    SCRATCH = os.getcwd()
    daemon(DURATION, swap)
    time.sleep(0.3)
    """


@pytest.mark.parametrize("level", LEVELS)
def test_the_cleanup_race_leaves_the_targets_modes_unchanged(level: str, token: str,
                                                           tmp_path: Path):
    target = tmp_path / "target"
    (target / "inner").mkdir(parents=True)
    (target / "file").write_text("the test's own")
    target.chmod(0o751)
    (target / "inner").chmod(0o705)
    (target / "file").chmod(0o604)
    modes = {path: path.lstat().st_mode for path in (target, target / "inner", target / "file")}
    code = probe_code(token, f"TARGET = {str(target)!r}\nDURATION = {DAEMON_S}\n" + textwrap.dedent(RACE))
    scratch = None
    try:
        check = run(code, ">>> SCRATCH\n", level)
        scratch = str(value(check))
        time.sleep(DAEMON_S)  # the race runs on where the daemon survives
        assert {path: path.lstat().st_mode for path in modes} == modes
        assert (target / "file").read_text() == "the test's own"
    finally:
        kill_named(token)
        # As documented, a daemon of the kernel's own user (process level, not root) lives
        # on and may write into the scratch folder after its removal: the test removes it.
        if scratch and os.path.isdir(scratch):
            assert not promises(level)["processes killed at the end"]
            remove_tree(scratch)


# -- the child's report ---------------------------------------------------------------------


FLOOD = """\
    import os
    def flood(data):
        # Every descriptor the code holds: the report's number depends on what the kernel
        # had open (many, after a long test run).
        for fd in sorted(int(name) for name in os.listdir('/proc/self/fd')):
            if fd > 2:
                try:
                    os.write(fd, data)
                except OSError:
                    pass
    """


@pytest.mark.parametrize("level", LEVELS)
def test_a_flood_on_the_results_descriptor_is_could_not_verify(level: str):
    deep = run(FLOOD + "flood(b'[' * 100000 + b'\\n')\n", ">>> 1\n1\n", level)
    assert deep.error is not None and deep.error.startswith("could not verify: "), deep
    assert not deep.ok and deep.isolation == level
    nested = run(FLOOD, ">>> flood(b'{\"event\": \"result\", \"index\": 0, \"got\": ' "
                        "+ b'[' * 100000 + b']' * 100000 + b'}\\n')\n", level)
    assert nested.error is not None and nested.error.startswith("could not verify: "), nested
    huge = run(FLOOD + "flood(b'{}\\n' * (3 << 20))\n", ">>> 1\n1\n", level)
    assert huge.error == "could not verify: the check's report was larger than 4 MB", huge


# -- which level, and the other user --------------------------------------------------------


def test_this_machine_gets_a_namespace_level_and_every_level_works_here():
    from qwen_magic.checking.sandbox import isolation_label, isolation_level

    if os.environ.get("QWEN_MAGIC_CHECK_ISOLATION"):
        pytest.skip("QWEN_MAGIC_CHECK_ISOLATION forces a level in this run")
    assert shutil.which("bwrap"), "bubblewrap is missing: run scripts/ensure-bubblewrap.sh"
    assert isolation_level() is Isolation.BUBBLEWRAP
    assert isolation_label() == "isolated: namespaces (bubblewrap)"
    for level in LEVELS:
        check = run_examples("def f(x):\n    return 2 * x\n", [Example("f(2)", "4")],
                             isolation=level)
        assert check.ok and check.isolation == level, check


@pytest.mark.skipif(not ROOT or bool(os.environ.get(NESTED)),
                    reason="runs only as root: it reruns this module as a normal user")
def test_the_same_suite_as_a_normal_user():
    python = next((p for p in (f"/usr/bin/python3.{sys.version_info[1]}",
                               f"/usr/local/bin/python3.{sys.version_info[1]}")
                   if os.access(p, os.X_OK)), None)
    assert python, "no system Python of this version for the normal user to run"
    home = Path(tempfile.mkdtemp(prefix="qwen-iso-user-"))
    os.chown(home, NORMAL_UID, NORMAL_UID)
    root = Path(__file__).resolve().parents[2]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "USER": "qwen-test",
           "PYTHONPATH": os.pathsep.join([str(root), *site.getsitepackages()]),
           NESTED: "1", "LANG": "C.UTF-8"}
    try:
        done = subprocess.run(
            [python, "-m", "pytest", __file__, "-q", "-x", "-p", "no:cacheprovider",
             "--basetemp", str(home / "pytest"), "-k", "not normal_user", "--rootdir", str(root),
             "-W", "ignore"],
            env=env, cwd=str(home), user=NORMAL_UID, group=NORMAL_UID, extra_groups=[],
            capture_output=True, text=True, timeout=150)
    finally:
        kill_all_processes(CheckUser(NORMAL_UID, NORMAL_UID))  # whatever the rerun left
        remove_tree(str(home))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout.split("\n")[-2], done.stdout
