"""The mutation report per module, from mutmut's results in ``mutants/`` (``make mutants`` runs it last).

Every mutant of a module is counted once: killed (a test failed, or it ran past its time: both mean the tests
noticed), killed outside the tool (``mutants/elsewhere.json``: a slow or multi-process test, or a warning's
``stacklevel`` checked in a scratch copy; see ``elsewhere.py``), equivalent, survived, reached by no test, or not
checked. The score is what a reader would compute from the table: killed / (mutants − equivalent − not checked).
A module with a mutant left unchecked is incomplete, whatever its score.

Equivalents are listed in ``tests/mutants/equivalent.txt`` by their *diff*, not by mutmut's numbering (a mutant's
number shifts when its function changes, so a list of numbers would come to excuse other mutants in silence)::

    jaxnet.activations.x_softmax_derivative
    - return jnp.einsum("...i,ij->...ij", s, eye) - jnp.einsum("...i,...j->...ij", s, s)
    + return jnp.einsum("...I,IJ->...IJ", s, eye) - jnp.einsum("...i,...j->...ij", s, s)
    = the einsum's labels renamed consistently: the same contraction

the function (module and mutmut's name for it), the lines the mutant removes and adds (stripped of indentation),
and why no valid input can tell it apart (``=``; the numbers bit for bit, the array types and their placement, the
warnings and where they point, the errors). Speed alone is not equivalence: a mutant that changes only speed or
memory is a survivor. An entry that matches no mutant is an error: the code it excused has changed, so it must be
looked at again. Writes ``tests/mutants/REPORT.md`` with the date and mutmut's version, prints it, lists the
survivors not accounted for, and exits 1 if a module scores below 90%, any mutant was left unchecked, or an
entry is stale.
"""

from __future__ import annotations

import ast
import collections
import dataclasses
import datetime
import difflib
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


@dataclasses.dataclass(frozen=True)
class Change:
    """What a mutant changes: its function (``jaxnet.mlp.x_init``), the lines it removes and the lines it adds."""

    function: str
    removed: tuple[str, ...]
    added: tuple[str, ...]

    def text(self) -> str:
        return "\n".join([self.function, *(f"- {line}" for line in self.removed),
                          *(f"+ {line}" for line in self.added)])


def equivalents(path: str) -> dict[Change, str]:
    """``{change: reason}`` from the blocks of ``equivalent.txt`` (see the module's docstring)."""
    found: dict[Change, str] = {}
    with open(path) as f:
        blocks = f.read().split("\n\n")
    for block in blocks:
        lines = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
        if not lines:
            continue
        function, rest = lines[0].strip(), lines[1:]
        removed = tuple(line[2:].strip() for line in rest if line.startswith("- "))
        added = tuple(line[2:].strip() for line in rest if line.startswith("+ "))
        reasons = [line[2:].strip() for line in rest if line.startswith("= ")]
        if len(removed) + len(added) + len(reasons) != len(rest) or len(reasons) != 1 or not reasons[0]:
            raise SystemExit(f"{path}: the entry for {function} needs lines '- removed', '+ added' and one "
                             f"'= reason', got:\n{block}")
        if not removed and not added:
            raise SystemExit(f"{path}: the entry for {function} names no change")
        if reasons[0].split(":")[0] in ("speed", "stacklevel"):
            raise SystemExit(f"{path}: the entry for {function} says {reasons[0].split(':')[0]!r}: not an "
                             f"equivalent (speed alone is observable as a survivor; a warning's stacklevel is "
                             f"checked by a scratch: route in elsewhere.txt)")
        found[Change(function, removed, added)] = reasons[0]
    return found


def results(directory: str) -> dict[str, int | None]:
    """``{mutant: exit code}`` from every ``.meta`` file mutmut wrote (None: not checked yet)."""
    return {name: code for name, (code, _) in _mutants(directory).items()}


def _mutants(directory: str) -> dict[str, tuple[int | None, str]]:
    found = {}
    for meta in glob.glob(os.path.join(directory, "**", "*.py.meta"), recursive=True):
        with open(meta) as f:
            found.update({name: (code, meta[: -len(".meta")])
                          for name, code in json.load(f)["exit_code_by_key"].items()})
    return found


def _functions(path: str) -> dict[str, str]:
    """``{name: source}`` of every function in one of mutmut's files (methods too: mutmut names them uniquely)."""
    with open(path) as f:
        text = f.read()
    lines = text.splitlines()  # not ast.get_source_segment: it splits the whole file again for every function
    return {node.name: "\n".join(lines[node.lineno - 1: node.end_lineno or node.lineno])
            for node in ast.walk(ast.parse(text)) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def changes(directory: str, names) -> dict[str, Change]:
    """``{mutant: Change}``: each mutant's function compared line by line with the original (``__mutmut_orig``)."""
    located = _mutants(directory)
    sources: dict[str, dict[str, str]] = {}
    found = {}
    for name in names:
        path = located[name][1]
        if path not in sources:
            sources[path] = _functions(path) if os.path.exists(path) else {}
        functions = sources[path]
        local = name.rsplit(".", 1)[1]  # "x_init__mutmut_3", "xǁTrainerǁ_loop__mutmut_2"
        base = local.split("__mutmut_")[0]
        if local not in functions or base + "__mutmut_orig" not in functions:
            continue
        old = [line.strip() for line in functions[base + "__mutmut_orig"].splitlines()[1:]]
        new = [line.strip() for line in functions[local].splitlines()[1:]]
        first_old, first_new = functions[base + "__mutmut_orig"].splitlines()[0], functions[local].splitlines()[0]
        old.insert(0, first_old.replace("__mutmut_orig", "", 1).strip())
        new.insert(0, first_new.replace(local, base, 1).strip())
        removed, added = [], []
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
            if tag != "equal":
                removed += old[i1:i2]
                added += new[j1:j2]
        found[name] = Change(f"{name.rsplit('.', 1)[0]}.{base}", tuple(removed), tuple(added))
    return found


def killed_elsewhere(directory: str) -> set[str]:
    """The survivors of the fast tests killed outside mutmut's run (``tests/mutants/elsewhere.py``)."""
    path = os.path.join(directory, "elsewhere.json")
    if not os.path.exists(path):
        return set()
    with open(path) as f:
        return {name for name, tried in json.load(f).items() if any(code != 0 for code in tried.values())}


def accounted(directory: str, equivalent_file: str) -> tuple[dict[str, str], list[Change]]:
    """``({mutant: reason} for the survivors equivalent.txt excuses, [its entries that match no mutant])``."""
    codes = results(directory)
    listed = equivalents(equivalent_file)
    found = changes(directory, [name for name, code in codes.items() if code not in KILLED])
    every = changes(directory, [name for name, code in codes.items() if code in KILLED])
    matched = {change for change in listed if change in found.values() or change in every.values()}
    excused = {name: listed[change] for name, change in found.items() if change in listed}
    return excused, [change for change in listed if change not in matched]


def main(mutants: str = os.path.join(ROOT, "mutants"), equivalent_file: str = os.path.join(HERE, "equivalent.txt"),
         out: str = HERE) -> int:
    codes, elsewhere = results(mutants), killed_elsewhere(mutants)
    equivalent, stale = accounted(mutants, equivalent_file)
    rows: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    unaccounted = []
    for name, code in sorted(codes.items()):
        module = name.rsplit(".", 1)[0]
        rows[module]["mutants"] += 1
        if code in KILLED:
            rows[module]["killed"] += 1
        elif code is None:
            rows[module]["not checked"] += 1
        elif name in elsewhere:
            rows[module]["killed"] += 1
            rows[module]["outside"] += 1
        elif name in equivalent:
            rows[module]["equivalent"] += 1
        elif code in NO_TESTS:
            rows[module]["no tests"] += 1
            unaccounted.append(f"{name} (no test calls it)")
        else:
            rows[module]["survived"] += 1
            unaccounted.append(f"{name} ({'survived' if code in SURVIVED else f'exit code {code}'})")
    lines = ["| module | mutants | killed | of them outside mutmut | equivalent | survived | no test reaches it "
             "| not checked | score |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    failing = []
    total: collections.Counter = collections.Counter()
    for module, c in sorted(rows.items()):
        total += c
        lines.append(_row(module, c))
        if c["not checked"] or not _score(c) >= GOAL:
            failing.append(module)
    lines.append(_row("**all**", total))
    try:
        version = importlib.metadata.version("mutmut")
    except importlib.metadata.PackageNotFoundError:  # the report alone, read without the tool (as in the tests)
        version = "not installed"
    report = (f"# Mutation report\n\n`make mutants` (mutmut {version}), {datetime.date.today()}. Score: killed / "
              f"(mutants − equivalent − not checked); goal {GOAL:.0%} in every module, none left unchecked.\n\n"
              + "\n".join(lines) + "\n")
    if unaccounted:
        report += "\nSurvivors not (yet) accounted for:\n\n" + "".join(f"- `{u}`\n" for u in unaccounted)
    if stale:
        report += ("\nEntries of equivalent.txt that match no mutant (the code changed: look again):\n\n"
                   + "".join(f"```\n{change.text()}\n```\n" for change in stale))
    with open(os.path.join(out, "REPORT.md"), "w") as f:
        f.write(report)
    print(report)
    if failing:
        print(f"below {GOAL:.0%}, or not fully checked: {', '.join(failing)}", file=sys.stderr)
    return 1 if failing or stale else 0


def _score(c: collections.Counter) -> float:
    counted = c["mutants"] - c["equivalent"] - c["not checked"]
    return c["killed"] / counted if counted else float("nan")


def _row(module: str, c: collections.Counter) -> str:
    score = _score(c)
    return (f"| {module} | {c['mutants']} | {c['killed']} | {c['outside']} | {c['equivalent']} | {c['survived']} "
            f"| {c['no tests']} | {c['not checked']} | {'—' if score != score else f'{score:.1%}'} |")


if __name__ == "__main__":
    sys.exit(main())
