"""Whether this environment already has what ``pip install -e '.[EXTRAS]'`` would install: jaxnet importable from
this checkout, and every requirement of pyproject.toml's dependencies and of the named extras installed at a
version it allows. Exits 0 if so, else 1, naming what is missing (the Makefile then runs pip, and only then).

    python .ci/satisfied.py test,plots,playground [--pyproject PATH]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import sys
import tomllib

try:
    from packaging.requirements import Requirement
except ImportError:  # a bare environment: pip's own copy
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[no-redef]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def missing(extras: list[str], pyproject: str) -> list[str]:
    """What is missing, in words; empty when nothing is."""
    with open(pyproject, "rb") as f:
        project = tomllib.load(f)["project"]
    optional = project.get("optional-dependencies", {})
    found = []
    spec = importlib.util.find_spec("jaxnet")
    if spec is None or not (spec.origin or "").startswith(os.path.join(ROOT, "jaxnet")):
        found.append(f"jaxnet from {ROOT} (installed: {spec.origin if spec else 'none'})")
    requirements = list(project.get("dependencies", []))
    for extra in extras:
        if extra not in optional:
            found.append(f"the extra {extra!r} (pyproject.toml has {', '.join(sorted(optional))})")
        requirements += optional.get(extra, [])
    for line in requirements:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        try:
            version = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{requirement} (not installed)")
            continue
        if not requirement.specifier.contains(version, prereleases=True):
            found.append(f"{requirement} (installed: {version})")
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("extras", help="comma-separated extras, as in EXTRAS")
    parser.add_argument("--pyproject", default=os.path.join(ROOT, "pyproject.toml"))
    args = parser.parse_args(argv)
    found = missing([e for e in args.extras.split(",") if e], args.pyproject)
    for what in found:
        print(f"to install: {what}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
