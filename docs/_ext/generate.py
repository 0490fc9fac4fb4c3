"""Pages generated from files of the repository at every build, so that each fact is written in one place.

* ``lecture.md`` from ``LECTURE.md``: every ```jaxnet.module.name``` becomes a link to its API entry, every
  ```experiments/x.py::name``` a link to the experiment's API entry, every ```tests/test_x.py::test_name``` a
  link to that test's source on a generated page; an unknown name is then a broken reference, which fails the
  strict build.
* ``tests/<file>.md``: the source of each test the map cites, one section per test.
* ``api/<module>.md`` (in ``docs/api/``, beside its hand-written index): one API page per module of jaxnet, found
  by ``pkgutil``, so a new module cannot be left out, and one per experiment.
* ``notebook.ipynb``: a copy of ``experiments/lecture.ipynb`` (stored without outputs; myst-nb executes it).
"""

from __future__ import annotations

import os
import pkgutil
import re
import shutil

EXPERIMENTS = ("experiments.universal_approx", "experiments.width_study", "experiments.mnist",
               "experiments.mnist_report", "experiments.exercises", "experiments.stopwatch")  # the experiments' modules
JAXNET_REF = re.compile(r"`(jaxnet\.[\w.]+)`")
EXPERIMENT_REF = re.compile(r"`experiments/(\w+)\.py::(\w+)`")
TEST_REF = re.compile(r"`tests/(test_\w+)\.py::(test_\w+)`")


def label(test_file: str, test: str) -> str:
    return f"{test_file}-{test}".replace("_", "-")


def lecture_page(text: str) -> tuple[str, dict[str, list[str]]]:
    """The map with its references turned into links, and the tests it cites by file."""
    cited: dict[str, list[str]] = {}

    def test_link(match: re.Match) -> str:
        test_file, test = match.groups()
        if test not in cited.setdefault(test_file, []):
            cited[test_file].append(test)
        return f"{{ref}}`{test} <{label(test_file, test)}>`"

    text = JAXNET_REF.sub(lambda m: f"{{py:obj}}`{m.group(1)}`", text)
    text = EXPERIMENT_REF.sub(lambda m: f"{{py:obj}}`experiments.{m.group(1)}.{m.group(2)}`", text)
    text = TEST_REF.sub(test_link, text)
    # The map's own pointers to the notebook: here it is a page of the site.
    text = text.replace("the notebook `experiments/lecture.ipynb`", "the [notebook](notebook.ipynb)")
    return text, cited


def test_page(test_file: str, tests: list[str]) -> str:
    lines = [f"# `tests/{test_file}.py`", "",
             f"The tests of `tests/{test_file}.py` that the [lecture map](../lecture.md) cites.", ""]
    for test in tests:
        lines += [f"({label(test_file, test)})=", f"## `{test}`", "",
                  f"```{{literalinclude}} ../../../tests/{test_file}.py", f":pyobject: {test}", ":language: python",
                  "```", ""]
    return "\n".join(lines)


def api_pages(root: str) -> dict[str, str]:
    """``{file name: page}``: an automodule page for every module of jaxnet and for each experiment."""
    modules = [f"jaxnet.{m.name}" for m in pkgutil.iter_modules([os.path.join(root, "jaxnet")])]
    pages = {}
    for module in modules + list(EXPERIMENTS):
        title = module if module.startswith("jaxnet.") else f"experiments/{module.split('.')[-1]}.py"
        pages[f"{module}.md"] = f"# `{title}`\n\n```{{eval-rst}}\n.. automodule:: {module}\n```\n"
    return pages


def write_all(root: str, out: str) -> None:
    """Writes every generated page: under ``out`` (a git-ignored folder of the documentation's source), and the
    API pages beside ``docs/api/index.md`` (git-ignored too)."""
    pages = api_pages(root)
    api = os.path.join(root, "docs", "api")
    for name, page in pages.items():
        _write(os.path.join(api, name), page)
    for stale in set(os.listdir(api)) - set(pages) - {"index.md"}:  # a module renamed or removed since
        os.remove(os.path.join(api, stale))
    with open(os.path.join(root, "LECTURE.md"), encoding="utf-8") as f:
        page, cited = lecture_page(f.read())
    os.makedirs(os.path.join(out, "tests"), exist_ok=True)
    _write(os.path.join(out, "lecture.md"), page)
    for test_file, tests in sorted(cited.items()):
        _write(os.path.join(out, "tests", f"{test_file}.md"), test_page(test_file, tests))
    index = ["# The tests the lecture map cites", "", "```{toctree}", ":maxdepth: 1", ""]
    _write(os.path.join(out, "tests", "index.md"), "\n".join(index + sorted(cited) + ["```", ""]))
    shutil.copyfile(os.path.join(root, "experiments", "lecture.ipynb"), os.path.join(out, "notebook.ipynb"))


def _write(path: str, text: str) -> None:
    # Unchanged pages keep their timestamps, so an incremental build does not redo them.
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
