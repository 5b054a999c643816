"""run_examples: real child processes (no model), each limit and each way out of them.

Safe as root (CI, this machine): the child then runs as ``nobody``, and the fork bomb below
is bounded (at most 200 forks that sleep, then exit) besides being stopped by RLIMIT_NPROC.
"""

from __future__ import annotations

import os
import pwd
import resource
import shutil
import stat
import textwrap
import time

import psutil
import pytest

from qwen_magic.checking import (
    CheckRun,
    CheckUnavailableError,
    Example,
    ExampleResult,
    Limits,
    extract_examples,
    run_examples,
)
from qwen_magic.checking.check_user import CHECK_UID_BASE

KERNEL_ONLY_NAME = "defined in the parent process"

DOUBLE = "def f(x):\n    return 2 * x\n"


def run(code: str, request: str = "", **limits: float) -> CheckRun:
    return run_examples(textwrap.dedent(code), extract_examples(textwrap.dedent(request)),
                        Limits(**limits))  # type: ignore[arg-type]


def got(check: CheckRun) -> list[str]:
    return [result.got for result in check.results]


# -- examples pass and fail -----------------------------------------------------------------


def test_passing_and_failing_doctests_and_asserts():
    check = run(DOUBLE, """\
        >>> f(2)
        4
        >>> f(3)
        7
        assert f(5) == 10
        assert f(1) == 3
        assert f(1) > 5
        """)
    assert [r.passed for r in check.results] == [True, False, True, False, False]
    assert got(check) == ["4", "6", "10", "2", "AssertionError"]
    assert check.error is None and not check.not_run
    assert (check.passed, check.total, check.ok) == (2, 5, False)
    assert check.results[1] == ExampleResult(Example("f(3)", "7"), False, "6")


def test_all_passing_is_ok():
    check = run(DOUBLE, ">>> f(2)\n4\nassert f(0) == 0\n")
    assert check.ok and (check.passed, check.total) == (2, 2)
    assert 0 < check.seconds < 10


def test_doctest_semantics_prints_exceptions_and_directives():
    code = """\
        def g(n):
            print("n is", n)
            if n < 0:
                raise ValueError("negative: " + str(n))
            return list(range(n))
        """
    check = run(code, """\
        >>> g(2)
        n is 2
        [0, 1]
        >>> g(-1)
        Traceback (most recent call last):
          ...
        ValueError: negative: -1
        >>> g(-2)
        Traceback (most recent call last):
        ValueError: something else
        >>> g(20)  # doctest: +ELLIPSIS
        n is 20
        [0, 1, ..., 19]
        >>> x = g(0)
        n is 0
        >>> x
        []
        """)
    assert [r.passed for r in check.results] == [True, True, False, True, True, True]
    assert got(check)[2] == "n is -2\nValueError: negative: -2"


def test_a_skipped_doctest_is_not_run():
    check = run(DOUBLE, ">>> f(undefined)  # doctest: +SKIP\n4\n")
    assert check.ok and got(check) == ["(skipped)"]


def test_examples_share_the_code_namespace_and_one_failure_does_not_stop_the_rest():
    check = run(DOUBLE, ">>> y = f(1)\n>>> y + undefined_name\n3\n>>> y\n2\n")
    assert [r.passed for r in check.results] == [True, False, True]
    assert got(check)[1] == "NameError: name 'undefined_name' is not defined"


def test_the_kernels_namespace_is_not_visible():
    assert KERNEL_ONLY_NAME  # a name of this (the parent) process
    check = run(DOUBLE, ">>> KERNEL_ONLY_NAME\n'defined in the parent process'\n")
    assert got(check) == ["NameError: name 'KERNEL_ONLY_NAME' is not defined"]


def test_no_examples_still_runs_the_code():
    assert run(DOUBLE).ok
    assert run("1 / 0").error == "ZeroDivisionError: division by zero (line 1)"


# -- the code itself fails ------------------------------------------------------------------


def test_a_syntax_error_in_the_code():
    check = run("def f(x:\n    return x\n", ">>> f(1)\n1\nassert f(2) == 2\n")
    assert check.error is not None and check.error.startswith("SyntaxError: ")
    assert check.error.endswith("(line 1)")
    assert check.results == () and len(check.not_run) == 2
    assert (check.passed, check.total, check.ok) == (0, 2, False)


def test_an_exception_at_import():
    check = run("import math\n\nVALUE = math.sqrt(-1)\n", ">>> VALUE\n1.0\n")
    assert check.error == "ValueError: math domain error (line 3)"
    assert check.not_run == (Example("VALUE", "1.0"),)


def test_sys_exit_and_keyboard_interrupt_in_the_code_are_errors():
    assert run("import sys\nsys.exit(3)\n", ">>> 1\n1\n").error == "SystemExit: 3 (line 2)"
    assert run("raise KeyboardInterrupt\n").error == "KeyboardInterrupt (line 1)"


def test_os_exit_in_the_code():
    check = run("import os\nos._exit(0)\n", ">>> 1\n1\n")
    assert check.error == "exited with status 0 while running the code"
    assert check.results == () and not check.ok


def test_exits_in_an_example_fail_it_and_os_exit_stops_the_run():
    check = run("import os, sys\n", """\
        >>> sys.exit(4)
        >>> raise KeyboardInterrupt
        >>> 1 + 1
        2
        >>> os._exit(5)
        >>> 3
        3
        """)
    assert got(check) == ["SystemExit: 4", "KeyboardInterrupt", "2"]
    assert check.error == "exited with status 5 while running >>> os._exit(5)  →  (no output)"
    assert check.not_run == (Example("os._exit(5)", ""), Example("3", "3"))


# -- time -----------------------------------------------------------------------------------


def test_an_infinite_loop_in_the_code_is_stopped_at_the_wall_clock():
    started = time.monotonic()
    check = run("while True:\n    pass\n", ">>> 1\n1\n", wall_s=1)
    assert time.monotonic() - started < 1 + 2
    assert check.error == "timed out after 1 s while running the code"
    assert check.total == 1 and not check.ok


def test_a_hanging_example_keeps_the_results_so_far():
    started = time.monotonic()
    check = run("import time\n", ">>> 1\n1\n>>> time.sleep(60)\n>>> 2\n2\n", wall_s=1)
    assert time.monotonic() - started < 1 + 2
    assert [r.passed for r in check.results] == [True]
    assert check.error == "timed out after 1 s while running >>> time.sleep(60)  →  (no output)"
    assert len(check.not_run) == 2 and check.total == 3


def test_the_cpu_time_limit():
    check = run("while True:\n    pass\n", wall_s=5, cpu_s=1)
    assert check.error == "stopped at the CPU time limit (1 s) while running the code"
    assert check.seconds < 3


# -- memory, processes, files, output -------------------------------------------------------


def test_a_2_gb_allocation_is_a_memory_error_and_the_parent_is_unaffected():
    before = resource.getrlimit(resource.RLIMIT_AS)
    check = run("data = bytearray(2 * 1024**3)\n")
    assert check.error == "MemoryError (the memory limit is 1024 MB) (line 1)"
    check = run("", ">>> len(bytearray(2 * 1024**3))\n2147483648\n>>> 1\n1\n")
    assert got(check) == ["MemoryError (the memory limit is 1024 MB)", "1"]
    assert resource.getrlimit(resource.RLIMIT_AS) == before
    assert len(bytearray(64 * 1024**2)) == 64 * 1024**2  # we still allocate freely


FORK_BOMB = """\
    import ctypes, os, time
    children, refused = 0, None
    for _ in range(200):  # bounded, whatever the limit
        try:
            pid = os.fork()
        except OSError as exc:
            refused = type(exc).__name__
            break
        if pid == 0:
            ctypes.CDLL(None).prctl(15, b"qwen-fork-bomb", 0, 0, 0)  # PR_SET_NAME: found by it
            time.sleep(30)
            os._exit(0)
        children += 1
    """


def test_a_fork_bomb_hits_the_process_limit_and_nothing_of_it_survives():
    check = run(FORK_BOMB, ">>> children, refused\n", processes=20)
    assert check.error is None
    children, refused = eval(check.results[0].got)
    assert refused == "BlockingIOError" and children <= 20
    survivors = []  # by name: its pids and sessions may be another PID namespace's
    for process in psutil.process_iter(["name", "status"]):
        if (process.info["name"] == "qwen-fork-bomb"
                and process.info["status"] != psutil.STATUS_ZOMBIE):
            survivors.append(process)  # (killed orphans wait as zombies until init reaps)
    assert survivors == []


def test_the_limits_are_set_in_the_child():
    check = run("import resource as r\n", """\
        >>> r.getrlimit(r.RLIMIT_AS)
        (536870912, 536870912)
        >>> r.getrlimit(r.RLIMIT_CPU)
        (7, 8)
        >>> r.getrlimit(r.RLIMIT_FSIZE)
        (2097152, 2097152)
        >>> r.getrlimit(r.RLIMIT_CORE)
        (0, 0)
        >>> r.getrlimit(r.RLIMIT_NOFILE)
        (64, 64)
        >>> r.getrlimit(r.RLIMIT_NPROC)[0] == r.getrlimit(r.RLIMIT_NPROC)[1] < 10000
        True
        """, memory_mb=512, cpu_s=7, file_mb=2, open_files=64)
    assert check.ok, check


def test_the_file_size_limit():
    check = run("", ">>> open('big', 'wb').write(bytes(3 * 1024**2))\n3145728\n", file_mb=2)
    assert got(check) == ["OSError: [Errno 27] File too large"]


def test_files_land_in_a_temporary_directory_that_is_removed():
    check = run("with open('out.txt', 'w') as f:\n    f.write('hi')\nimport os\n", """\
        >>> os.getcwd()
        >>> sorted(os.listdir('.'))
        ['out.txt']
        >>> os.environ['HOME'] == os.environ['TMPDIR'] == os.getcwd()
        True
        >>> import tempfile; tempfile.gettempdir() == os.getcwd()
        True
        """)
    workdir = eval(check.results[0].got)
    assert [r.passed for r in check.results[1:]] == [True, True, True]
    assert os.path.basename(workdir).startswith("qwen-check-")
    assert not os.path.exists(workdir)


def test_an_unwritable_directory_left_behind_is_still_removed():
    check = run("import os\nos.makedirs('a/b')\nopen('a/b/c', 'w').close()\nos.chmod('a', 0)\n",
                ">>> os.getcwd()\n")
    assert not os.path.exists(eval(check.results[0].got))


def test_a_flood_of_output_is_bounded_and_does_not_hang():
    started = time.monotonic()
    check = run("import os, sys\nprint('x' * 50 * 1024**2)\n", """\
        >>> print('y' * 50 * 1024**2)
        >>> for i in range(100_000): print(i)
        >>> os.write(1, b'z' * 50 * 1024**2)
        52428800
        >>> n = sys.stderr.write('e' * 50 * 1024**2)
        """)
    assert time.monotonic() - started < 10
    assert check.error is None
    first = check.results[0].got
    assert first.startswith("yyy") and first.endswith("more characters)") and len(first) < 1100
    assert [r.passed for r in check.results] == [False, False, True, True]


# -- what the child sees --------------------------------------------------------------------


def test_no_secrets_from_the_kernels_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-for-the-child")
    check = run("import os\n", """\
        >>> 'OPENAI_API_KEY' in os.environ
        False
        >>> sorted(os.environ)  # doctest: +NORMALIZE_WHITESPACE
        ['HOME', 'LANG', 'LC_ALL', 'MKL_NUM_THREADS', 'OMP_NUM_THREADS',
         'OPENBLAS_NUM_THREADS', 'PATH', 'TMPDIR']
        >>> os.environ['OPENBLAS_NUM_THREADS'], os.environ['OMP_NUM_THREADS'], os.environ['MKL_NUM_THREADS']
        ('1', '1', '1')
        """)
    assert check.ok, check


def test_isolated_mode_yet_pandas_imports_under_the_limits():
    check = run("import os, sys\nimport pandas as pd\n", """\
        >>> sys.flags.isolated, '' in sys.path, os.getcwd() in sys.path
        (1, False, False)
        >>> pd.DataFrame({'a': [1, 2, 3]})['a'].sum()
        np.int64(6)
        """)
    assert check.ok, check


def test_the_child_runs_as_an_unprivileged_user_never_root():
    ask = ">>> os.getuid(), os.geteuid(), os.getgid(), os.getgroups()\n"
    # In a user namespace: uid/gid 1000 inside, whoever the kernel is.
    for level in ("bubblewrap", "unshare", "userns")[0 if shutil.which("bwrap") else 1:]:
        assert eval(run_examples("import os\n", extract_examples(ask), isolation=level)
                    .results[0].got) == (1000, 1000, 1000, [])
    # Without namespaces: a uid of the check's own when root (never nobody), else as us.
    ids = eval(run_examples("import os\n", extract_examples(ask), isolation="process")
               .results[0].got)
    if os.geteuid() == 0:
        assert CHECK_UID_BASE <= ids[0] < CHECK_UID_BASE + 64
        assert ids == (ids[0], ids[0], ids[0], []) and ids[0] != pwd.getpwnam("nobody").pw_uid
    else:
        assert ids[:3] == (os.getuid(), os.geteuid(), os.getgid())


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the child to a user of its own")
def test_an_interpreter_the_check_user_cannot_run_is_a_clear_one_line_error(tmp_path):
    closed = tmp_path / "closed"
    closed.mkdir()
    (closed / "python").symlink_to(os.path.realpath(os.sys.executable))
    closed.chmod(stat.S_IRWXU)  # root only
    with pytest.raises(CheckUnavailableError) as caught:
        run_examples(DOUBLE, [], python=str(closed / "python"))
    message = str(caught.value)
    assert "\n" not in message and "a user of its own" in message and "Permission denied" in message
    assert "is closed to other users" in message  # this one, or pytest's own /tmp/pytest-of-root


def test_limits_must_be_positive():
    with pytest.raises(ValueError, match="Limits.wall_s"):
        Limits(wall_s=0)


def test_the_codes_own_output_is_reported_and_capped():
    """What the code prints at its top level comes back (what ``%qwen fix --check`` compares
    between answers); a flood is cut to its first 1,000 characters and a count."""
    check = run_examples("print('a')\nprint(2 * 21)\n", [])
    assert check.ok and check.output == "a\n42\n"
    flood = run_examples("print('x' * 5000)\n", [])
    assert flood.output.startswith("x" * 1000 + "…") and "more characters" in flood.output
    failed = run_examples("print('before')\n1 / 0\n", [])
    assert failed.error and failed.output == ""  # a failed run has no output to compare


def test_traced_runs_say_which_lines_of_the_code_ran():
    """``%qwen fix --check`` asks which of a corrected cell's lines ran: a branch not taken
    and a function never called are missing; lines of functions that ran are there."""
    code = ("def twice(n):\n    return 2 * n\n\ndef never():\n    return 0\n\n"
            "x = twice(3)\nif x > 10:\n    print('big')\nprint(x)\n")
    traced = run_examples(code, [], trace_lines=True)
    assert traced.ok and traced.output == "6\n"
    assert traced.lines_run >= {1, 2, 4, 7, 8, 10}
    assert not traced.lines_run & {5, 9}
    assert run_examples(code, []).lines_run == frozenset()  # untraced unless asked
