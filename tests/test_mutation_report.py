"""tests/mutants/report.py, the mutation report per module, on results written by hand; planted.py's bugs still
apply to the code; the conftest's test order under make mutants."""

import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "mutants"))
import planted  # noqa: E402
import report  # noqa: E402


def write_results(directory, codes):
    os.makedirs(directory / "jaxnet", exist_ok=True)
    (directory / "jaxnet" / "a.py.meta").write_text(json.dumps({"exit_code_by_key": codes}))


def run(tmp_path):
    return report.main(str(tmp_path / "mutants"), str(tmp_path / "equivalent.txt"), str(tmp_path))


def test_scores_count_kills_and_timeouts_and_leave_out_the_equivalent(tmp_path):
    codes = {**{f"jaxnet.a.x_f__mutmut_{i}": 1 for i in range(1, 9)},  # 8 killed by a failing test
             "jaxnet.a.x_f__mutmut_9": 36,  # a timeout: the tests noticed
             "jaxnet.a.x_f__mutmut_10": 0,  # equivalent
             "jaxnet.a.x_g__mutmut_1": 0}   # a survivor
    write_results(tmp_path / "mutants", codes)
    (tmp_path / "equivalent.txt").write_text("# header\njaxnet.a.x_f__mutmut_10  # the same contraction\n")
    assert run(tmp_path) == 0  # 9 killed of 10 non-equivalent: 90%
    text = (tmp_path / "REPORT.md").read_text()
    assert "| jaxnet.a | 11 | 9 | 0 | 1 | 0 | 1 | 0 | 0 | 90.0% |" in text
    assert "`jaxnet.a.x_g__mutmut_1 (survived)`" in text


def test_a_module_below_the_goal_or_unchecked_fails(tmp_path):
    write_results(tmp_path / "mutants", {"jaxnet.a.x_f__mutmut_1": 1, "jaxnet.a.x_f__mutmut_2": 0,
                                         "jaxnet.a.x_f__mutmut_3": None})
    (tmp_path / "equivalent.txt").write_text("")
    assert run(tmp_path) == 1
    assert "| jaxnet.a | 3 | 1 | 0 | 0 | 0 | 1 | 0 | 1 | 50.0% |" in (tmp_path / "REPORT.md").read_text()


def test_survivors_a_slow_test_killed_count_as_killed_and_are_shown_apart(tmp_path):
    write_results(tmp_path / "mutants", {"jaxnet.a.x_f__mutmut_1": 1, "jaxnet.a.x_f__mutmut_2": 0,
                                         "jaxnet.a.x_f__mutmut_3": 33, "jaxnet.a.x_f__mutmut_4": 0})
    (tmp_path / "mutants" / "elsewhere.json").write_text(json.dumps({
        "jaxnet.a.x_f__mutmut_2": {"tests/t.py::slow": 0, "tests/t.py::launcher": 1},  # the second test killed it
        "jaxnet.a.x_f__mutmut_3": {"tests/t.py::slow": 36},  # a timeout is a kill
        "jaxnet.a.x_f__mutmut_4": {"tests/t.py::slow": 0}}))  # survived that test too
    (tmp_path / "equivalent.txt").write_text("")
    assert run(tmp_path) == 1  # 3 of 4
    text = (tmp_path / "REPORT.md").read_text()
    assert "| jaxnet.a | 4 | 3 | 2 | 0 | 0 | 1 | 0 | 0 | 75.0% |" in text
    assert "`jaxnet.a.x_f__mutmut_4 (survived)`" in text and "mutmut_2 (" not in text


def test_speed_only_mutants_have_their_own_column_and_stacklevel_ones_count_as_killed(tmp_path):
    write_results(tmp_path / "mutants", {"jaxnet.a.x_f__mutmut_1": 1, "jaxnet.a.x_f__mutmut_2": 0,
                                         "jaxnet.a.x_f__mutmut_3": 0, "jaxnet.a.x_f__mutmut_4": 0,
                                         "jaxnet.a.x_f__mutmut_5": 0})
    (tmp_path / "equivalent.txt").write_text(
        "jaxnet.a.x_f__mutmut_2  # speed: the same numbers in another schedule\n"
        "jaxnet.a.x_f__mutmut_3  # stacklevel: tests/t.py::test_where_it_points\n"
        "jaxnet.a.x_f__mutmut_4  # an einsum's labels renamed\n")
    assert run(tmp_path) == 1  # 2 killed of 3 counted: 66.7%
    text = (tmp_path / "REPORT.md").read_text()
    assert "| jaxnet.a | 5 | 2 | 0 | 1 | 1 | 1 | 0 | 0 | 66.7% |" in text
    assert "`jaxnet.a.x_f__mutmut_5 (survived)`" in text


def test_collecting_the_fast_tests_starts_no_jax_runtime():
    # make mutants forks its workers from a process that has collected the tests; a JAX runtime started there
    # (a jnp array made at import) would leave its threads behind in every fork.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = [p for p in ("tests", "jaxnet") if os.path.isdir(os.path.join(root, p))]  # the wheel's run has no jaxnet/
    script = (f"import pytest; code = pytest.main(['--collect-only', '-q', '-p', 'no:cacheprovider', *{paths!r}, "
              "'-m', 'not slow and not launchers']); assert code == 0, code; from jax._src import xla_bridge; "
              "print('backends', sorted(xla_bridge._backends))")
    out = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=300)
    assert out.stdout.strip().splitlines()[-1] == "backends []", out.stdout[-2000:] + out.stderr[-2000:]


@pytest.mark.skipif("MUTANT_UNDER_TEST" in os.environ,
                    reason="make mutants' copy of the code holds its mutants beside the original text")
@pytest.mark.skipif(not os.path.isdir(os.path.join(planted.ROOT, "jaxnet")),
                    reason="the bugs are planted in the source tree; these tests run against an installed wheel")
def test_every_planted_bug_still_applies_to_the_code():
    # make planted replaces each bug's correct text; a refactoring that moves it must update the list, not skip it.
    assert len(planted.BUGS) == 8
    for name, path, correct, bug in planted.BUGS:
        text = planted.planted_text(path, correct, bug)
        assert bug in text and correct != bug, name
        assert all(os.path.exists(os.path.join(planted.ROOT, test)) for test in planted.TESTS)


class Item:
    def __init__(self, nodeid):
        self.nodeid = nodeid


def test_under_make_mutants_the_mutated_modules_tests_run_first_each_group_fastest_first(tmp_path, monkeypatch):
    import importlib.util
    spec = importlib.util.spec_from_file_location("suite_conftest", os.path.join(os.path.dirname(__file__),
                                                                                  "conftest.py"))
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)
    durations = {"tests/test_mlp.py::a": 0.1, "tests/test_losses.py::slow": 2.0, "tests/test_losses.py::fast": 0.5,
                 "tests/test_train.py::b": 0.05}
    (tmp_path / "mutmut-stats.json").write_text(json.dumps({"duration_by_test": durations}))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MUTANT_UNDER_TEST", raising=False)
    items = [Item(nodeid) for nodeid in durations]
    conftest.pytest_collection_modifyitems(None, items)  # not under make mutants: the order is kept
    assert [item.nodeid for item in items] == list(durations)
    monkeypatch.setenv("MUTANT_UNDER_TEST", "jaxnet.losses.x_mse__mutmut_3")
    conftest.pytest_collection_modifyitems(None, items)
    assert [item.nodeid for item in items] == ["tests/test_losses.py::fast", "tests/test_losses.py::slow",
                                               "tests/test_train.py::b", "tests/test_mlp.py::a"]
