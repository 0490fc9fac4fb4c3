"""The mutation run's results, kept in the repository: ``results.jsonl`` beside this file.

A whole ``make mutants`` takes hours on a small machine, and mutmut keeps its results in ``mutants/`` (git-ignored),
which a fresh clone does not have. This file records them, one JSON line per mutated function::

    {"function": "jaxnet.mlp.x_init", "hash": "…", "exit_codes": {"1": 1, "2": 0, "3": null}}

the function (the prefix of its mutants' names), mutmut's hash of its source, and each mutant's exit code by its
number (``report.py`` reads them: 1 killed, 0 survived, None not checked, ...); a last line holds what
``elsewhere.py`` found (``{"elsewhere": {...}}``).

``record.py restore`` (``make mutants`` runs it first) writes the record back as mutmut's ``.meta`` files where
``mutants/`` has none, so a run goes on from the recorded one: mutmut keeps a result only while its function's hash
is unchanged and checks the mutants of every changed or new function afresh. ``record.py save`` (run last) writes
the record from ``mutants/``.
"""

from __future__ import annotations

import glob
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RECORD = os.path.join(HERE, "results.jsonl")
MUTANT = re.compile(r"^(?P<function>.+)__mutmut_(?P<number>\d+)$")


def _source_of(meta: str, directory: str) -> str:
    """The source path a ``.meta`` file belongs to, relative to the project (``jaxnet/mlp.py``)."""
    return os.path.relpath(meta[: -len(".meta")], directory)


def save(directory: str, record: str = RECORD) -> int:
    """Write ``record`` from the ``.meta`` files (and ``elsewhere.json``) under ``directory``; returns the mutants."""
    lines, count = [], 0
    for meta in sorted(glob.glob(os.path.join(directory, "**", "*.py.meta"), recursive=True)):
        with open(meta) as f:
            data = json.load(f)
        by_function: dict[str, dict[str, int | None]] = {}
        for name, code in data["exit_code_by_key"].items():
            match = MUTANT.match(name)
            if match is None:
                raise SystemExit(f"{meta}: {name!r} is not a mutant's name (function__mutmut_N)")
            by_function.setdefault(match["function"], {})[match["number"]] = code
        hashes = data.get("hash_by_function_name", {})
        for function, codes in sorted(by_function.items()):
            short = function.rpartition(".")[2]
            if short not in hashes:
                raise SystemExit(f"{meta}: no hash for {function}")
            lines.append({"function": function, "file": _source_of(meta, directory), "hash": hashes[short],
                          "exit_codes": dict(sorted(codes.items(), key=lambda item: int(item[0])))})
            count += len(codes)
    elsewhere_path = os.path.join(directory, "elsewhere.json")
    elsewhere = {}
    if os.path.exists(elsewhere_path):
        with open(elsewhere_path) as f:
            elsewhere = json.load(f)
    with open(record, "w") as f:
        for line in lines:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
        f.write(json.dumps({"elsewhere": elsewhere}, ensure_ascii=False, sort_keys=True) + "\n")
    return count


def read(record: str = RECORD) -> tuple[dict[str, tuple[int | None, str]], dict[str, dict[str, int]], dict]:
    """``({mutant: (exit code, source path)}, {source path: {function: hash}}, elsewhere)`` from ``record``."""
    results: dict[str, tuple[int | None, str]] = {}
    hashes: dict[str, dict[str, str]] = {}
    elsewhere: dict = {}
    with open(record) as f:
        for number, text in enumerate(f, 1):
            line = json.loads(text)
            if "elsewhere" in line:
                elsewhere = line["elsewhere"]
                continue
            missing = {"function", "file", "hash", "exit_codes"} - line.keys()
            if missing:
                raise SystemExit(f"{record}:{number}: the line lacks {sorted(missing)}")
            for mutant, code in line["exit_codes"].items():
                results[f"{line['function']}__mutmut_{mutant}"] = (code, line["file"])
            hashes.setdefault(line["file"], {})[line["function"].rpartition(".")[2]] = line["hash"]
    return results, hashes, elsewhere


def restore(directory: str, record: str = RECORD) -> int:
    """Write ``record`` as mutmut's ``.meta`` files under ``directory`` where none exists; returns the files written.

    A ``mutants/`` that already has a file's results (a local run, newer than the record) keeps them.
    """
    results, hashes, elsewhere = read(record)
    by_file: dict[str, dict[str, int | None]] = {}
    for mutant, (code, path) in results.items():
        by_file.setdefault(path, {})[mutant] = code
    written = 0
    for path, codes in sorted(by_file.items()):
        meta = os.path.join(directory, path + ".meta")
        if os.path.exists(meta):
            continue
        os.makedirs(os.path.dirname(meta), exist_ok=True)
        with open(meta, "w") as f:
            json.dump({"exit_code_by_key": codes, "hash_by_function_name": hashes[path], "type_check_error_by_key": {},
                       "durations_by_key": {}, "estimated_durations_by_key": {}}, f, indent=4)
        written += 1
    elsewhere_path = os.path.join(directory, "elsewhere.json")
    if elsewhere and not os.path.exists(elsewhere_path):
        with open(elsewhere_path, "w") as f:
            json.dump(elsewhere, f, indent=1, sort_keys=True)
    return written


def main(argv: list[str]) -> None:
    if len(argv) != 1 or argv[0] not in ("save", "restore"):
        raise SystemExit("usage: record.py save|restore  (mutants/ <-> tests/mutants/results.jsonl)")
    directory = os.path.join(ROOT, "mutants")
    if argv[0] == "save":
        print(f"{save(directory)} mutants' results written to {os.path.relpath(RECORD, ROOT)}")
    elif not os.path.exists(RECORD):
        print(f"no {os.path.relpath(RECORD, ROOT)}: the run starts from nothing")
    else:
        print(f"{restore(directory)} files' results restored from {os.path.relpath(RECORD, ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
