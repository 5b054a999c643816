"""The isolation levels' bookkeeping: which level runs, what the footer says, the report's
reading, the bench section. Real child processes (no model); the probes of hostile code are
in tests/reliability/test_check_isolation.py.
"""

from __future__ import annotations

import io
import shutil
import types

import pytest

from qwen_magic.bench.plan import Plan
from qwen_magic.bench.report import format_table, goals
from qwen_magic.checking import (
    CheckUnavailableError,
    Example,
    Isolation,
    isolation_label,
    isolation_level,
    run_examples,
    sandbox,
)
from qwen_magic.checking import isolation as isolation_module
from qwen_magic.checking.outcome import CheckOutcome

DOUBLE = "def f(x):\n    return 2 * x\n"
#: `make test` installs bubblewrap (and the reliability suite insists on it); a unit run
#: on a machine without it tests the other levels.
AVAILABLE = [level for level in Isolation
             if level is not Isolation.BUBBLEWRAP or shutil.which("bwrap")]


def test_every_run_says_which_level_it_had_and_the_footer_shows_it():
    for level in AVAILABLE:
        check = run_examples(DOUBLE, [Example("f(2)", "4")], isolation=level.value)
        assert check.ok and check.isolation == level.value
    outcome = CheckOutcome(examples=1, passed=1, isolation="unshare")
    assert outcome.line() == "checked: 1/1 examples pass · isolated: namespaces"
    marked = CheckOutcome(examples=2, passed=1, failure="f(3) → 7", isolation="process")
    assert marked.line() == "1/2 pass — best attempt inserted, marked (f(3) → 7) · limited process only"
    assert CheckOutcome(examples=1, passed=1, isolation="userns").line().endswith(
        " · partly isolated: namespaces")
    assert CheckOutcome(examples=1, passed=1).line() == "checked: 1/1 examples pass"  # none ran
    assert CheckOutcome(examples=0, passed=0).line() == "could not verify: no examples in the request"


def test_the_level_can_be_forced_and_a_bad_name_is_one_clear_line(monkeypatch):
    monkeypatch.setenv("QWEN_MAGIC_CHECK_ISOLATION", "userns")
    assert isolation_level() is Isolation.USERNS
    assert isolation_label() == "partly isolated: namespaces without a private filesystem"
    assert run_examples(DOUBLE, [Example("f(1)", "2")]).isolation == "userns"
    monkeypatch.setenv("QWEN_MAGIC_CHECK_ISOLATION", "docker")
    with pytest.raises(CheckUnavailableError) as caught:
        run_examples(DOUBLE, [])
    assert str(caught.value) == ("unknown --check isolation 'docker': use one of bubblewrap, "
                                 "unshare, userns, process")


def test_detection_takes_the_strongest_level_whose_whole_setup_works(monkeypatch):
    monkeypatch.delenv("QWEN_MAGIC_CHECK_ISOLATION", raising=False)
    monkeypatch.setattr(sandbox, "_detected", None)
    real_tool = isolation_module._tool

    def without(*missing: str):
        def tool(name: str) -> str:
            if name in missing:
                raise isolation_module.IsolationUnavailableError(f"no {name} (this test)")
            return real_tool(name)
        return tool

    # Without bubblewrap, util-linux's unshare; without both, the limited process.
    monkeypatch.setattr(isolation_module, "_tool", without("bwrap"))
    assert isolation_level() is Isolation.UNSHARE
    monkeypatch.setattr(sandbox, "_detected", None)
    monkeypatch.setattr(isolation_module, "_tool", without("bwrap", "unshare"))
    assert isolation_level() is Isolation.PROCESS
    # Mounts refused in the user namespace (Ubuntu 24.04's AppArmor): the unshare level's
    # init fails to mount, and its probe with it; the level without mounts is next.
    monkeypatch.setattr(sandbox, "_detected", None)
    monkeypatch.setattr(isolation_module, "_tool", without("bwrap"))
    monkeypatch.setattr(isolation_module, "INIT_SOURCE", isolation_module.INIT_SOURCE.replace(
        "def mount(source", "def mount(*args):\n    raise PermissionError('refused (this test)')\n\n\n"
        "def unused_mount(source"))
    assert isolation_level() is Isolation.USERNS
    monkeypatch.setattr(sandbox, "_detected", None)


def test_a_level_whose_setup_fails_is_a_clear_error_not_a_failed_example(monkeypatch):
    monkeypatch.setattr(isolation_module, "INIT_SOURCE", isolation_module.INIT_SOURCE.replace(
        "def build_root(fs", "def build_root(fs):\n    raise OSError('mount refused (this test)')"
        "\n\n\ndef unused(fs"))
    with pytest.raises(CheckUnavailableError) as caught:
        run_examples(DOUBLE, [Example("f(1)", "2")], isolation="unshare")
    assert str(caught.value).startswith("--check could not set up its isolation (unshare): "
                                        "OSError: mount refused (this test)")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("data, records, problem", [
    (b'{"event": "done"}\n', [{"event": "done"}], ""),
    (b'{"event": "loaded"}\n{"event": "res', [{"event": "loaded"}], ""),  # torn: killed mid-write
    (b'{"event": "loaded"}\nnot json\n', [], "JSONDecodeError"),
    (b"[" * 100000 + b"\n", [], "RecursionError"),
    (b"[1, 2]\n", [], "ValueError"),
])
def test_the_report_is_read_or_declared_damaged_never_raised(data, records, problem):
    got, why = sandbox._read_records(io.BytesIO(data))
    assert got == records
    assert (problem in why) and (bool(why) == bool(problem))


def test_the_bench_section_reports_each_level_next_to_the_limited_process():
    bench = types.SimpleNamespace(plan=Plan(isolation_runs=2))
    from qwen_magic.bench.checking import check_isolation

    said: list[str] = []
    section = check_isolation(bench, said.append)
    assert set(section["levels"]) == {"bubblewrap", "unshare", "userns", "process"}
    for level in AVAILABLE:
        row = section["levels"][level.value]
        assert row["runs"] == 2 and 0 < row["median_s"] < 5 and row["error"] is None
    assert section["levels"]["process"]["over_process_s"] == 0
    assert section["machine_level"] == isolation_level().value
    report = {"check_isolation": section}
    goal = goals(report)["check_isolation_added_s"]
    assert goal["value"] == section["machine_over_process_s"] and goal["met"] is not None
    machine = {"cpu": "cpu", "physical_cores": 2, "logical_cpus": 2, "loadavg_start": 0,
               "versions": {"llama_cpp_python": "-", "ipython": "-"}, "python": "3"}
    settings = {"model": "m.gguf", "n_ctx": 1, "n_threads": 1, "n_batch": 1}
    table = format_table({**report, "machine": machine, "settings": settings,
                          "goals": goals(report)})
    assert "--check isolation: one passing check, median of 2 runs" in table
    assert f"  process    {section['levels']['process']['median_s']:.3f} s (+0.000 s)" in table
    assert len(said) == 4
