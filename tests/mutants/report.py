"""The mutation report per module, from mutmut's results in ``mutants/`` (``make mutants`` runs it last).

Every mutant of a module is counted once: killed (a test failed, or it ran past its time: both mean the tests
noticed), survived, listed as equivalent in ``tests/mutants/equivalent.txt`` (a survivor that no valid input can
tell apart: numbers bit for bit, array types and placement, warnings, errors; with one line of reason), or not yet
checked. Two kinds of lines there are not equivalents: ``speed:`` (it changes only speed or caching, counted in its
own column, out of the score) and ``stacklevel:`` (where a warning points, which mutmut's trampoline hides; the test
named there checks it outside the run, so it counts as killed). The score is killed / (checked − equivalent −
speed only). Writes
``tests/mutants/REPORT.md`` with the date and mutmut's version, prints it, lists the survivors that are not
accounted for, and exits 1 if a module of jaxnet/ scores below 90% or any mutant was left unchecked.
"""

from __future__ import annotations

import collections
import datetime
import glob
import importlib.metadata
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GOAL = 0.90
# mutmut's exit codes (mutmut.stats.status_by_exit_code): 1 and 3 failed tests, 36/±24/152/255 a timeout, 37 a type
# error; 0 survived; None not checked; 33 and 5 no test called the function.
KILLED, SURVIVED, NO_TESTS = {1, 3, 36, 24, -24, 152, 255, 37}, {0}, {5, 33}


def equivalents(path: str) -> dict[str, str]:
    """``{mutant: reason}`` from lines ``<mutant name>  # <reason>``."""
    found = {}
    with open(path) as f:
        for line in f:
            name, _, reason = line.partition("#")
            if name.strip():
                if not reason.strip():
                    raise SystemExit(f"{path}: {name.strip()} has no reason")
                found[name.strip()] = reason.strip()
    return found


def results(directory: str) -> dict[str, int | None]:
    codes = {}
    for meta in glob.glob(os.path.join(directory, "**", "*.py.meta"), recursive=True):
        with open(meta) as f:
            codes.update(json.load(f)["exit_code_by_key"])
    return codes


def killed_elsewhere(directory: str) -> set[str]:
    """The survivors of the fast tests that a slow or multi-process test killed (tests/mutants/elsewhere.py)."""
    path = os.path.join(directory, "elsewhere.json")
    if not os.path.exists(path):
        return set()
    with open(path) as f:
        return {name for name, tried in json.load(f).items() if any(code != 0 for code in tried.values())}


def main(mutants: str = os.path.join(ROOT, "mutants"), equivalent_file: str = os.path.join(HERE, "equivalent.txt"),
         out: str = HERE) -> int:
    codes, equivalent, elsewhere = results(mutants), equivalents(equivalent_file), killed_elsewhere(mutants)
    rows = collections.defaultdict(collections.Counter)
    unaccounted = []
    for name, code in sorted(codes.items()):
        module = name.rsplit(".", 1)[0]
        if code in KILLED:
            rows[module]["killed"] += 1
        elif code is not None and name in elsewhere:
            rows[module]["killed"] += 1
            rows[module]["by slow tests"] += 1
        elif code is None:
            rows[module]["unchecked"] += 1
        elif name in equivalent and equivalent[name].startswith("stacklevel:"):
            rows[module]["killed"] += 1
        elif name in equivalent and equivalent[name].startswith("speed:"):
            rows[module]["speed only"] += 1
        elif name in equivalent:
            rows[module]["equivalent"] += 1
        elif code in NO_TESTS:
            rows[module]["no tests"] += 1
            unaccounted.append(f"{name} (no test calls it)")
        else:
            rows[module]["survived"] += 1
            unaccounted.append(f"{name} ({'survived' if code in SURVIVED else f'exit code {code}'})")
    lines = ["| module | mutants | killed | of them by slow tests | equivalent | speed only | survived | no tests "
             "| not checked | score |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    failing = []
    for module, c in sorted(rows.items()):
        total = sum(c.values()) - c["by slow tests"]  # counted among the killed too
        checked = total - c["unchecked"] - c["equivalent"] - c["speed only"]
        score = c["killed"] / checked if checked else float("nan")
        lines.append(f"| {module} | {total} | {c['killed']} | {c['by slow tests']} | {c['equivalent']} "
                     f"| {c['speed only']} | {c['survived']} | {c['no tests']} | {c['unchecked']} | {score:.1%} |")
        if module.startswith("jaxnet.") and (c["unchecked"] or not score >= GOAL):
            failing.append(module)
    try:
        version = importlib.metadata.version("mutmut")
    except importlib.metadata.PackageNotFoundError:  # the report alone, read without the tool (as in the tests)
        version = "not installed"
    report = (f"# Mutation report\n\n`make mutants` (mutmut {version}), {datetime.date.today()}. Score: killed / "
              f"(checked − equivalent − speed only); goal {GOAL:.0%} in every module of jaxnet/.\n\n"
              + "\n".join(lines) + "\n")
    if unaccounted:
        report += "\nSurvivors not (yet) accounted for:\n\n" + "".join(f"- `{u}`\n" for u in unaccounted)
    with open(os.path.join(out, "REPORT.md"), "w") as f:
        f.write(report)
    print(report)
    if failing:
        print(f"below {GOAL:.0%}, or not fully checked: {', '.join(failing)}", file=sys.stderr)
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
