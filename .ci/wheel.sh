#!/usr/bin/env bash
# The release as a user gets it: build the sdist and the wheel, check them with twine, install the wheel (not the
# checkout) into a fresh virtual environment, and run the fast test suite against it from outside the checkout.
# Usage: .ci/wheel.sh [python]   (default: .venv/bin/python, which must have the test extra)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-.venv/bin/python}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rm -rf dist
"$PY" -m build --outdir dist . > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
"$PY" -m twine check --strict dist/*
wheel="$(ls dist/*.whl)"
# The wheel holds the package and its type marker, and nothing of the checkout besides.
"$PY" - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
assert "jaxnet/py.typed" in names, "py.typed is missing from the wheel"
stray = [n for n in names if not n.startswith(("jaxnet/", "jaxnet_lecture-"))]
assert not stray, f"files outside the package in the wheel: {stray}"
PY
"$PY" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --upgrade pip
"$work/venv/bin/python" -m pip install --quiet "$wheel[test]"
# The tests and what they read, without jaxnet/: the import must come from the installed wheel.
mkdir "$work/tree"
cp -r tests experiments benchmarks pyproject.toml README.md LECTURE.md "$work/tree/"
mkdir "$work/tree/docs" && cp -r docs/howto "$work/tree/docs/"  # the how-to pages whose code the tests run
cd "$work/tree"
"$work/venv/bin/python" - <<'PY'
import os, sys, jaxnet
where = os.path.dirname(jaxnet.__file__)
assert where.startswith(sys.prefix), f"jaxnet imported from {where}, not from the fresh environment {sys.prefix}"
assert jaxnet.__version__ != "0+unknown", "no version in the installed metadata"
print(f"jaxnet {jaxnet.__version__} installed from the wheel at {where}")
PY
"$work/venv/bin/python" -m pytest -q -n 2 -m "not slow" -p no:cacheprovider tests
