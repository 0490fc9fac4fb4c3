#!/usr/bin/env bash
# The release as a user gets it: build the sdist and the wheel, check them with twine, install the wheel (not the
# checkout) into a fresh virtual environment, and run the fast test suite against it from outside the checkout.
#
# Usage: .ci/wheel.sh [--lowest | --newest]
#   (no option)  .venv's Python and the newest versions it can install
#   --lowest     the lowest Python pyproject.toml declares, with jax, jaxlib, optax, numpy and tqdm at their
#                declared lower bounds (each ">=" read as "==")
#   --newest     the newest Python found here (3.13, else 3.12), with the newest of every dependency
# The build itself uses the project's environment ($VENV, default .venv: it has build and twine, from the test
# extra).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${VENV:-.venv}/bin/python"
MODE="${1:-}"

source .ci/find_python.sh

pins=()
case "$MODE" in
  "") ENV_PY="$PY" ;;
  --lowest)
    lowest="$("$PY" -c "import tomllib, re; p = tomllib.load(open('pyproject.toml', 'rb'))['project'];
print(re.search(r'>=\s*(\d+\.\d+)', p['requires-python']).group(1))")"
    ENV_PY="$(find_python "$lowest")"
    mapfile -t pins < <("$PY" -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']
for d in p['dependencies']: print(d.split(';')[0].replace('>=', '==').strip())")
    ;;
  --newest) ENV_PY="$(newest_python)" ;;
  *) echo "usage: .ci/wheel.sh [--lowest | --newest]" >&2; exit 2 ;;
esac
if [ -z "$ENV_PY" ]; then
  echo "no Python for $MODE here (pyenv install it, or put it on PATH)" >&2
  exit 1
fi
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
"$ENV_PY" -m venv "$work/venv"
install() {  # quiet unless it fails
  "$work/venv/bin/python" -m pip install --quiet "$@" > "$work/pip.log" 2>&1 \
    || { grep -v "^WARNING: Location" "$work/pip.log"; exit 1; }
}
install --upgrade pip
install "$wheel[test]" "${pins[@]}"
"$work/venv/bin/python" -m pip check > /dev/null
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
import importlib.metadata as m
print("Python " + sys.version.split()[0] + ", " + ", ".join(f"{d} {m.version(d)}" for d in
      ("jax", "jaxlib", "optax", "numpy", "tqdm", "chex")))
PY
"$work/venv/bin/python" -m pytest -q -n 2 -m "not slow" -p no:cacheprovider tests
