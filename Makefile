# make demo: the universal-approximation sweep (no download needed).  make test: the test suite (all of it).
# make check: the fast subset (no `slow` tests) for the edit-test loop.  make lint: ruff and mypy.
# make launchers: the multi-process runs (under mpirun and srun, and with explicit flags).
# make study: the width sweep's error taken apart (what a width can represent, what the data allow, what training
# reaches; about 3 minutes).
# make docs: the documentation site.  make dist: the wheel and the sdist.
# make playground: the lecture, live, on a local web page (http://127.0.0.1:7860; PORT=... to change).
# Both create .venv on first use with $(PYTHON) (default: the machine's python3). EXTRAS picks the package extras
# installed there. The defaults run the whole suite but the tests that need another extra or the MNIST files, which
# skip saying what to install or set (-rs lists them); all of it: make test EXTRAS=$(ALL_EXTRAS) with
# JAXNET_DATA_DIR set to the MNIST files' folder (as CI does).
PYTHON ?= python3
VENV ?= .venv
EXTRAS ?= test,plots
ALL_EXTRAS := test,plots,data,docs,playground,tensorboard,interop
comma := ,
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

# Two pytest workers: most of the suite's time is XLA compiling small programs. loadfile: each test module runs on
# one worker, so a costly module fixture (the documentation site, the playground's server) is set up once.
PYTEST_WORKERS ?= 2
# JAX's persistent compilation cache: a second `make test`, `make demo` or `make docs` reuses the compiled programs
# of the first instead of compiling them again (keyed by the program itself, so never stale). Parallel test workers
# can read an entry another is still writing; JAX then warns and compiles afresh (pyproject lets that warning pass).
export JAX_COMPILATION_CACHE_DIR ?= $(abspath $(VENV))/jax-cache
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS ?= 0
export JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES ?= 0

.PHONY: install test check launchers lint demo mnist study notebook bench clean docs dist playground mutants planted

install: $(STAMP)

# pip runs only for what is missing (.ci/satisfied.py): an environment that already has EXTRAS, installed by another
# make command or by hand, is used as it is.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) .ci/satisfied.py $(EXTRAS) || { $(PY) -m pip install --quiet --upgrade pip && \
		$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'; }
	touch $@

# What the suite runs on, first: a failure on one machine and not another often comes down to these.
VERSIONS := import sys, importlib.metadata as m; print("Python", sys.version.split()[0] + ",", ", ".join( \
	f"{d} {m.version(d)}" for d in ("jax", "jaxlib", "optax", "numpy", "chex")))

test: install
	@$(PY) -c '$(VERSIONS)'
	$(PY) -m pytest -q -rs -n $(PYTEST_WORKERS) --dist loadfile -m "not launchers"

check: install
	@$(PY) -c '$(VERSIONS)'
	$(PY) -m pytest -q -rs -n $(PYTEST_WORKERS) --dist loadfile -m "not slow and not launchers"

# The multi-process runs: under mpirun and srun (they skip, saying how to install them, where a launcher is absent;
# as root, `bash .ci/slurm.sh start` brings up a one-node SLURM), and started with explicit flags. One test at a
# time: each run's processes use both cores.
# Without the persistent compilation cache: a process of a multi-process run that finds a program in it while its
# peer compiles the program anew can wait on the peer forever (a resumed run hung so here, every time).
launchers: install
	env -u JAX_COMPILATION_CACHE_DIR $(PY) -m pytest -q -m launchers -rs

lint: install
	$(PY) -m ruff check .
	$(PY) -m mypy

demo: install
	$(PY) -m experiments.universal_approx

mnist: install
	$(PY) -m experiments.mnist

# The width sweep taken apart: what each width can represent, what the data allow, what training reaches
# (runs/width_study/; about 3 minutes here).
study: install
	$(PY) -m experiments.width_study

# The lecture's notebook, executed into runs/lecture.ipynb with its outputs (the stored one has none).
notebook: install
	mkdir -p runs
	cd experiments && PYTHONPATH=.. ../$(PY) -c "import nbformat, nbclient; nb = nbformat.read('lecture.ipynb', 4); \
	nbclient.NotebookClient(nb, timeout=600, resources={'metadata': {'path': '.'}}).execute(); \
	nbformat.write(nb, '../runs/lecture.ipynb')"

bench: install
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) runs

# The documentation site, built strictly (any warning, broken cross-reference, missing docstring or notebook error
# fails it) into docs/_build/html.
# The docs extra comes with EXTRAS when it names it (as in CI), else on top of it, once.
DOCS_STAMP := $(if $(findstring docs,$(EXTRAS)),$(STAMP),$(VENV)/.installed-docs)
docs: $(DOCS_STAMP)
	$(PY) -m sphinx -W --keep-going -n -q -b html docs docs/_build/html

$(VENV)/.installed-docs: $(STAMP)
	$(PY) -m pip install --quiet -e '.[$(EXTRAS),docs]'
	touch $@

# Mutation testing (mutmut, configured in pyproject.toml) of every module of jaxnet/ and experiments/ (the playground
# too: every extra is installed for it), then a report per module against tests/mutants/equivalent.txt
# (tests/mutants/README.md). Not in CI: over its 12,636 mutants it runs about 50 a minute on 2 cores, so a whole
# run takes hours (tests/mutants/REPORT.md); a second run re-checks only the functions whose code changed. The results
# are kept in tests/mutants/results.jsonl (record.py), so a run stopped here goes on from it in a fresh clone.
# Survivors that only slow tests, several devices or processes, or a copy without mutmut's trampoline (where a warning
# points) reach are then run against those tests (tests/mutants/elsewhere.py; about 10 s a test).
mutants: install
	$(PY) .ci/satisfied.py $(ALL_EXTRAS) || $(PY) -m pip install --quiet -e '.[$(ALL_EXTRAS)]'
	$(PY) -m pip install --quiet 'mutmut==3.8.1'
	$(PY) tests/mutants/record.py restore
	JAX_PLATFORMS=cpu $(VENV)/bin/mutmut run --max-children $(PYTEST_WORKERS) || true
	$(PY) tests/mutants/record.py save
	$(PY) tests/mutants/elsewhere.py
	$(PY) tests/mutants/record.py save
	$(PY) tests/mutants/report.py

# Eight known engine and recipe bugs (the same shuffle each epoch, a lost step, ...), each planted alone in a scratch
# copy: the fast tests must fail for every one (tests/mutants/planted.py). 3.5 minutes here; not in CI.
planted: install
	JAX_PLATFORMS=cpu $(PY) tests/mutants/planted.py

# The playground: the width sweep, back-propagation's tables and a digit you draw, served on 127.0.0.1 (nothing
# from outside). The digit tab uses make mnist's checkpoint, else trains a 3-epoch network on $$JAXNET_DATA_DIR's
# files at start-up. The playground extra is installed on top of EXTRAS where it is missing, and only then.
PORT ?= 7860
playground: install
	$(PY) .ci/satisfied.py $(EXTRAS),playground || $(PY) -m pip install --quiet -e '.[$(EXTRAS),playground]'
	$(PY) -m experiments.playground --port $(PORT)

# The sdist and the wheel, checked by twine.
dist: install
	rm -rf dist
	$(PY) -m build --outdir dist .
	$(PY) -m twine check --strict dist/*
