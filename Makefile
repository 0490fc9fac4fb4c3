# make demo: the universal-approximation sweep (no download needed).  make test: the test suite.
# Both create .venv on first use. EXTRAS picks the package extras installed there (CI adds "data" for tfds).
PYTHON ?= python3
VENV ?= .venv
EXTRAS ?= test,plots
comma := ,
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: install test demo mnist bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

test: install
	$(PY) -m pytest -q

demo: install
	$(PY) experiments/universal_approx.py

mnist: install
	$(PY) experiments/mnist.py

bench: install
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) runs
