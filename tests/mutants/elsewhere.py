"""Runs the survivors that only slow or multi-process tests can reach against those tests (``make mutants`` runs it
after mutmut).

mutmut picks, for each mutant, the fast tests that called the mutated function in its own process. Code that runs
only on several devices or in several processes (a mesh's placement, the multi-process gather) is called in a
child process, which it cannot see, so its mutants "survive" the fast tests. ``tests/mutants/elsewhere.txt`` names,
for such functions, the tests that do reach them; this script runs each surviving mutant of those functions against
them, with the mutant switched on (``MUTANT_UNDER_TEST``, inherited by the child processes, which import
``mutants/jaxnet`` through ``PYTHONPATH``), and writes the exit codes to ``mutants/elsewhere.json`` as
``{mutant: {test: exit code}}``. ``tests/mutants/report.py`` reads it: any exit code but 0 (a failed test, or a
timeout) is a kill. A second run skips what the first one checked; mutants listed in ``equivalent.txt`` are
not tried.

A test written ``scratch:<node id>`` runs instead in a scratch copy of the project whose source has the mutant's
function written in place of the original (no trampoline): mutmut's trampoline adds frames, so where a warning points
(its ``stacklevel``) can be tested only there. The test must pass on the unmutated copy first.
"""

from __future__ import annotations

import ast
import concurrent.futures
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import report  # noqa: E402

# survived, its run was interrupted (pytest could not collect the tests), or no fast test reached it
RERUN = {0, 2, 5, 33}


def routes(path: str) -> list[tuple[str, str]]:
    """``[(mutant name pattern, pytest node id)]`` from lines ``<pattern>  <node id>  # <why>``."""
    found = []
    with open(path) as f:
        for line in f:
            fields = line.partition("#")[0].split()
            if fields:
                if len(fields) != 2:
                    raise SystemExit(f"{path}: expected '<mutant pattern>  <test node id>  # why', got {line!r}")
                found.append((fields[0], fields[1]))
    return found


def main(mutants: str = os.path.join(ROOT, "mutants"), routes_file: str = os.path.join(HERE, "elsewhere.txt"),
         equivalent_file: str = os.path.join(HERE, "equivalent.txt"), timeout_s: int = 600, workers: int = 2) -> int:
    codes = report.results(mutants)
    equivalent, _ = report.accounted(mutants, equivalent_file)  # accounted for already: not worth a slow test
    out_path = os.path.join(mutants, "elsewhere.json")
    done = {}
    if os.path.exists(out_path):
        with open(out_path) as f:
            done = json.load(f)
    env = {**os.environ, "PYTHONPATH": os.path.abspath(mutants), "JAX_PLATFORMS": "cpu"}

    scratch = tempfile.mkdtemp(prefix="jaxnet-mutants-")

    def run(test: str, mutant: str) -> int:
        if test.startswith("scratch:"):
            return in_scratch_copy(test.removeprefix("scratch:"), mutant, mutants, scratch, timeout_s)
        try:
            return subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:randomly", "-p",
                                   "no:cacheprovider", test], cwd=mutants, env={**env, "MUTANT_UNDER_TEST": mutant},
                                  capture_output=True, timeout=timeout_s).returncode
        except subprocess.TimeoutExpired:
            return 36  # mutmut's code for a timeout: the test noticed

    plan: dict[str, list[str]] = {}  # each survivor's tests, in the file's order
    for pattern, test in routes(routes_file):
        for name in sorted(n for n, c in codes.items()
                           if c in RERUN and n not in equivalent and fnmatch.fnmatchcase(n, pattern)):
            plan.setdefault(name, []).append(test)
    tried = {name: done.setdefault(name, {}) for name in plan}

    def control(test: str) -> None:
        # The test must pass on the unmutated code and fail when every mutated function raises ("fail", mutmut's own
        # check): else its failures would say nothing about the mutants.
        clean, broken = run(test, ""), run(test, "fail")
        if clean != 0 or broken == 0:
            raise SystemExit(f"{test}: exit code {clean} on the unmutated code and {broken} with every function "
                             f"failing; it cannot judge mutants")

    lock = threading.Lock()

    def judge(name: str) -> None:
        for test in plan[name]:
            if test not in tried[name]:
                tic = time.monotonic()
                code = run(test, name)
                with lock:
                    tried[name][test] = code
                    print(f"{name}: {test} -> exit code {code} ({time.monotonic() - tic:.0f} s)", flush=True)
                    with open(out_path, "w") as f:
                        json.dump(done, f, indent=1, sort_keys=True)
            if tried[name][test] != 0:
                break  # killed

    # Each test runs in processes of its own, so `workers` of them side by side (the slow tests' JAX start-up and
    # tracing are single-threaded: two at once nearly halve the time on two cores).
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        pending = {test for name, tests in plan.items() for test in tests if test not in tried[name]}
        list(pool.map(control, sorted(pending)))
        list(pool.map(judge, plan))
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


def written_in(source: str, mutant: str, mutants: str) -> str:
    """``source`` (the original text of the mutant's file) with the mutant's function in place of the original;
    ``mutant`` "" or "fail" leaves it as it is, or makes the function raise."""
    if mutant in ("", "fail"):
        return source
    local = mutant.rsplit(".", 1)[1]
    base = local.split("__mutmut_")[0]
    path = report._mutants(mutants)[mutant][1]
    with open(path) as f:
        mutated = f.read()
    new = next(node for node in ast.walk(ast.parse(mutated))
               if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == local)
    # mutmut's names: "x_fit" for a function fit, "xǁTrainerǁ_fit" for the method Trainer._fit.
    owner, name = (base.split("ǁ")[1], base.split("ǁ")[2]) if base.count("ǁ") == 2 else (None, base[2:])
    tree = ast.parse(source)
    scope = tree.body if owner is None else next(node.body for node in tree.body
                                                 if isinstance(node, ast.ClassDef) and node.name == owner)
    old = next(node for node in scope if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name)
    lines = source.splitlines(keepends=True)
    text = (ast.get_source_segment(mutated, new) or "").replace(local, name, 1)
    indent = " " * old.col_offset
    return "".join(lines[: old.lineno - 1]) + indent + text + "\n" + "".join(lines[old.end_lineno:])


def in_scratch_copy(test: str, mutant: str, mutants: str, scratch: str, timeout_s: int) -> int:
    """Runs ``test`` in a copy of the project with ``mutant`` written into its source; pytest's exit code."""
    if mutant == "fail":  # the control of a function made to raise means something only under the trampoline
        return 1
    copy = tempfile.mkdtemp(dir=scratch)
    for folder in ("jaxnet", "experiments", "tests"):
        shutil.copytree(os.path.join(ROOT, folder), os.path.join(copy, folder),
                        ignore=shutil.ignore_patterns("__pycache__", "*.ipynb"))
    for name in ("pyproject.toml", "README.md", "CHANGELOG.md", "LECTURE.md"):
        shutil.copy(os.path.join(ROOT, name), copy)
    if mutant:
        module = mutant.rsplit(".", 1)[0].replace(".", os.sep)
        path = os.path.join(copy, module + ".py")
        path = path if os.path.exists(path) else os.path.join(copy, module, "__init__.py")
        with open(path) as f:
            source = f.read()
        with open(path, "w") as f:
            f.write(written_in(source, mutant, mutants))
    try:
        return subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:randomly", "-p",
                               "no:cacheprovider", test], cwd=copy, capture_output=True, timeout=timeout_s,
                              env={**os.environ, "PYTHONPATH": copy, "JAX_PLATFORMS": "cpu"}).returncode
    except subprocess.TimeoutExpired:
        return 36
    finally:
        shutil.rmtree(copy, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
