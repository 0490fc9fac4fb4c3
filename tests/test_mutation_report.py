"""tests/mutants/report.py, the mutation report per module, on results written by hand; record.py keeps a run's
results in the repository and gives them back; planted.py's bugs still apply to the code; the conftest's test order
under make mutants."""

import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "mutants"))
import elsewhere  # noqa: E402
import record  # noqa: E402

import planted  # noqa: E402
import report  # noqa: E402


def write_results(directory, codes, returns=None):
    """mutmut's files for a module jaxnet/a.py: its functions' originals return 0, mutant n returns ``returns[n]``
    (n by default), and ``codes`` their exit codes."""
    os.makedirs(directory / "jaxnet", exist_ok=True)
    (directory / "jaxnet" / "a.py.meta").write_text(json.dumps({"exit_code_by_key": codes}))
    functions = sorted({name.rsplit(".", 1)[1].split("__mutmut_")[0] for name in codes})
    text = "".join(f"def {f}__mutmut_orig(x):\n    y = x + 1\n    return 0\n\n\n" for f in functions)
    for name in codes:
        local = name.rsplit(".", 1)[1]
        number = int(local.split("__mutmut_")[1])
        text += f"def {local}(x):\n    y = x + 1\n    return {(returns or {}).get(number, number)}\n\n\n"
    (directory / "jaxnet" / "a.py").write_text(text)


def entry(function, removed, added, reason):
    return f"{function}\n- {removed}\n+ {added}\n= {reason}\n\n"


def run(tmp_path):
    return report.main(str(tmp_path / "mutants"), str(tmp_path / "equivalent.txt"), str(tmp_path))


def test_scores_count_kills_and_timeouts_and_leave_out_the_equivalent(tmp_path):
    codes = {**{f"jaxnet.a.x_f__mutmut_{i}": 1 for i in range(1, 9)},  # 8 killed by a failing test
             "jaxnet.a.x_f__mutmut_9": 36,  # a timeout: the tests noticed
             "jaxnet.a.x_f__mutmut_10": 0,  # equivalent
             "jaxnet.a.x_g__mutmut_1": 0}   # a survivor
    write_results(tmp_path / "mutants", codes)
    (tmp_path / "equivalent.txt").write_text("# header\n\n" + entry("jaxnet.a.x_f", "return 0", "return 10",
                                                                     "the same contraction"))
    assert run(tmp_path) == 0  # 9 killed of 10 non-equivalent: 90%
    text = (tmp_path / "REPORT.md").read_text()
    assert "| jaxnet.a | 11 | 9 | 0 | 1 | 1 | 0 | 0 | 90.0% |" in text
    assert "| **all** | 11 | 9 | 0 | 1 | 1 | 0 | 0 | 90.0% |" in text
    assert "`jaxnet.a.x_g__mutmut_1 (survived)`" in text


def test_an_equivalent_is_matched_by_its_change_not_its_number(tmp_path):
    # The function changed and its mutants were numbered anew: the entry follows the change to mutant 4 and
    # excuses nothing else; mutant 3 returns what mutant 10 returned in the other function, which is not excused.
    write_results(tmp_path / "mutants", {"jaxnet.a.x_f__mutmut_3": 0, "jaxnet.a.x_f__mutmut_4": 0,
                                         "jaxnet.a.x_g__mutmut_1": 0}, returns={3: 11, 4: 10, 1: 10})
    (tmp_path / "equivalent.txt").write_text(entry("jaxnet.a.x_f", "return 0", "return 10", "why"))
    assert run(tmp_path) == 1
    text = (tmp_path / "REPORT.md").read_text()
    assert "| jaxnet.a | 3 | 0 | 0 | 1 | 2 | 0 | 0 | 0.0% |" in text
    assert "`jaxnet.a.x_f__mutmut_3 (survived)`" in text and "`jaxnet.a.x_g__mutmut_1 (survived)`" in text


def test_an_entry_that_matches_no_mutant_fails_the_report_and_is_shown(tmp_path):
    write_results(tmp_path / "mutants", {"jaxnet.a.x_f__mutmut_1": 1})
    (tmp_path / "equivalent.txt").write_text(entry("jaxnet.a.x_f", "return 0", "return 2", "why"))
    assert run(tmp_path) == 1  # the module scores 100%, but the entry is stale
    text = (tmp_path / "REPORT.md").read_text()
    assert "match no mutant" in text and "jaxnet.a.x_f\n- return 0\n+ return 2" in text


@pytest.mark.parametrize("reason", ["speed: the same numbers, later", "stacklevel: tests/t.py::test_where"])
def test_speed_and_stacklevel_are_not_equivalence(tmp_path, reason):
    write_results(tmp_path / "mutants", {"jaxnet.a.x_f__mutmut_1": 0})
    (tmp_path / "equivalent.txt").write_text(entry("jaxnet.a.x_f", "return 0", "return 1", reason))
    with pytest.raises(SystemExit, match=f"says '{reason.split(':')[0]}': not an equivalent"):
        run(tmp_path)


def test_an_entry_without_a_reason_is_refused(tmp_path):
    write_results(tmp_path / "mutants", {"jaxnet.a.x_f__mutmut_1": 0})
    (tmp_path / "equivalent.txt").write_text("jaxnet.a.x_f\n- return 0\n+ return 1\n")
    with pytest.raises(SystemExit, match="one '= reason'"):
        run(tmp_path)


def test_a_module_below_the_goal_or_unchecked_fails(tmp_path):
    write_results(tmp_path / "mutants", {"jaxnet.a.x_f__mutmut_1": 1, "jaxnet.a.x_f__mutmut_2": 0,
                                         "jaxnet.a.x_f__mutmut_3": None})
    (tmp_path / "equivalent.txt").write_text("")
    assert run(tmp_path) == 1
    assert "| jaxnet.a | 3 | 1 | 0 | 0 | 1 | 0 | 1 | 50.0% |" in (tmp_path / "REPORT.md").read_text()


def test_an_unchecked_mutant_fails_the_module_even_when_the_checked_ones_score(tmp_path):
    write_results(tmp_path / "mutants", {"jaxnet.a.x_f__mutmut_1": 1, "jaxnet.a.x_f__mutmut_2": None})
    (tmp_path / "equivalent.txt").write_text("")
    assert run(tmp_path) == 1
    assert "| jaxnet.a | 2 | 1 | 0 | 0 | 0 | 0 | 1 | 100.0% |" in (tmp_path / "REPORT.md").read_text()


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
    assert "| jaxnet.a | 4 | 3 | 2 | 0 | 1 | 0 | 0 | 75.0% |" in text
    assert "`jaxnet.a.x_f__mutmut_4 (survived)`" in text and "mutmut_2 (" not in text


def test_a_survivor_no_test_reaches_counts_against_the_score(tmp_path):
    write_results(tmp_path / "mutants", {"jaxnet.a.x_f__mutmut_1": 1, "jaxnet.a.x_f__mutmut_2": 33})
    (tmp_path / "equivalent.txt").write_text("")
    assert run(tmp_path) == 1
    text = (tmp_path / "REPORT.md").read_text()
    assert "| jaxnet.a | 2 | 1 | 0 | 0 | 0 | 1 | 0 | 50.0% |" in text
    assert "`jaxnet.a.x_f__mutmut_2 (no test calls it)`" in text


def test_a_scratch_copy_gets_the_mutants_function_or_method_in_place_of_the_original(tmp_path):
    # elsewhere.py's scratch routes: the mutant's text replaces the original function, decorators and neighbours
    # kept, so a warning's stacklevel is tested without mutmut's trampoline.
    source = ("import functools\n\n\ndef f(x):\n    return x + 1\n\n\nclass T:\n    @functools.cache\n"
              "    def _g(self, x):\n        return x * 2\n\n    def h(self):\n        return 3\n")
    mutants = tmp_path / "mutants"
    (mutants / "jaxnet").mkdir(parents=True)
    (mutants / "jaxnet" / "a.py").write_text(
        "def x_f__mutmut_orig(x):\n    return x + 1\n\n\ndef x_f__mutmut_1(x):\n    return x - 1\n\n\n"
        "class T:\n    def xǁTǁ_g__mutmut_orig(self, x):\n        return x * 2\n\n"
        "    def xǁTǁ_g__mutmut_2(self, x):\n        return x / 2\n")
    (mutants / "jaxnet" / "a.py.meta").write_text(json.dumps({"exit_code_by_key": {
        "jaxnet.a.x_f__mutmut_1": 0, "jaxnet.a.xǁTǁ_g__mutmut_2": 0}}))
    assert elsewhere.written_in(source, "jaxnet.a.x_f__mutmut_1", str(mutants)) == source.replace("x + 1", "x - 1")
    assert elsewhere.written_in(source, "jaxnet.a.xǁTǁ_g__mutmut_2", str(mutants)) == source.replace("x * 2", "x / 2")
    assert elsewhere.written_in(source, "", str(mutants)) == source


@pytest.mark.slow  # a whole Python process (the collection of every test; the grader)
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
    # A module in a package counts each part of its name; a method counts its class.
    items = [Item(n) for n in ("tests/test_mlp.py::a", "tests/test_fit.py::c", "tests/test_playground.py::d",
                               "tests/test_trainer.py::e")]
    monkeypatch.setenv("MUTANT_UNDER_TEST", "experiments.playground.fit.x_trainer_for__mutmut_1")
    conftest.pytest_collection_modifyitems(None, items)
    assert [item.nodeid for item in items][:2] == ["tests/test_fit.py::c", "tests/test_playground.py::d"]
    monkeypatch.setenv("MUTANT_UNDER_TEST", "jaxnet.mlp.xǁNetǁ__init____mutmut_1")
    conftest.pytest_collection_modifyitems(None, items)
    assert [item.nodeid for item in items][0] == "tests/test_mlp.py::a"
    monkeypatch.setenv("MUTANT_UNDER_TEST", "jaxnet.train.xǁTrainerǁ_loop__mutmut_2")
    conftest.pytest_collection_modifyitems(None, items)
    assert [item.nodeid for item in items][0] == "tests/test_trainer.py::e"


def test_the_record_keeps_each_mutants_result_and_its_functions_hash_and_gives_them_back(tmp_path):
    meta = {"exit_code_by_key": {"jaxnet.a.x_f__mutmut_1": 1, "jaxnet.a.x_f__mutmut_2": 0,
                                 "jaxnet.a.xǁNetǁapply__mutmut_10": None, "jaxnet.a.xǁNetǁapply__mutmut_9": 36},
            "hash_by_function_name": {"x_f": "f0", "xǁNetǁapply": "a1", "x_unmutated": "u2"},
            "type_check_error_by_key": {}, "durations_by_key": {"jaxnet.a.x_f__mutmut_1": 0.5},
            "estimated_durations_by_key": {}}
    run = tmp_path / "mutants"
    os.makedirs(run / "jaxnet" / "sub")
    (run / "jaxnet" / "a.py.meta").write_text(json.dumps(meta))
    (run / "jaxnet" / "sub" / "b.py.meta").write_text(json.dumps({"exit_code_by_key": {}, "hash_by_function_name": {},
                                                                 "durations_by_key": {}}))
    (run / "elsewhere.json").write_text(json.dumps({"jaxnet.a.x_f__mutmut_2": {"tests/t.py::t": 1}}))
    kept = tmp_path / "results.jsonl"
    assert record.save(str(run), str(kept)) == 4
    lines = [json.loads(line) for line in kept.read_text().splitlines()]
    assert lines == [
        {"function": "jaxnet.a.x_f", "file": "jaxnet/a.py", "hash": "f0", "exit_codes": {"1": 1, "2": 0}},
        {"function": "jaxnet.a.xǁNetǁapply", "file": "jaxnet/a.py", "hash": "a1", "exit_codes": {"9": 36, "10": None}},
        {"elsewhere": {"jaxnet.a.x_f__mutmut_2": {"tests/t.py::t": 1}}}]

    fresh = tmp_path / "fresh"
    assert record.restore(str(fresh), str(kept)) == 1
    back = json.loads((fresh / "jaxnet" / "a.py.meta").read_text())
    assert back["exit_code_by_key"] == meta["exit_code_by_key"]
    assert back["hash_by_function_name"] == {"x_f": "f0", "xǁNetǁapply": "a1"}  # mutmut re-checks the rest anyway
    assert json.loads((fresh / "elsewhere.json").read_text()) == {"jaxnet.a.x_f__mutmut_2": {"tests/t.py::t": 1}}
    # A run's own results, newer than the record, are kept.
    (fresh / "jaxnet" / "a.py.meta").write_text("{}")
    assert record.restore(str(fresh), str(kept)) == 0 and (fresh / "jaxnet" / "a.py.meta").read_text() == "{}"


def test_a_record_line_without_its_fields_or_a_name_not_a_mutants_is_refused(tmp_path):
    (tmp_path / "results.jsonl").write_text(json.dumps({"function": "jaxnet.a.x_f", "exit_codes": {}}) + "\n")
    with pytest.raises(SystemExit, match=r"results.jsonl:1: the line lacks \['file', 'hash'\]"):
        record.read(str(tmp_path / "results.jsonl"))
    os.makedirs(tmp_path / "mutants" / "jaxnet")
    (tmp_path / "mutants" / "jaxnet" / "a.py.meta").write_text(json.dumps({"exit_code_by_key": {"jaxnet.a.x_f": 1}}))
    with pytest.raises(SystemExit, match="'jaxnet.a.x_f' is not a mutant's name"):
        record.save(str(tmp_path / "mutants"), str(tmp_path / "out.jsonl"))


def test_the_recorded_equivalents_each_name_a_change_and_a_reason():
    found = report.equivalents(os.path.join(os.path.dirname(report.__file__), "equivalent.txt"))  # raises if not
    assert found and all(reason for reason in found.values())
