# Two entry points for a fresh machine: `make demo` and `make test`. Each bootstraps .venv itself.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test venv k8s lint typecheck unit emulator-test e2e bench bench-scale clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# The real kube-apiserver + etcd, built once per machine and cached outside the tree by version.
k8s:
	bash akod/devenv/build-kube-apiserver.sh

demo: $(STAMP) k8s
	$(VENV)/bin/akod demo

lint: $(STAMP)
	$(VENV)/bin/lint-imports

# Types: strict on akod.model, akod.config and akod.sync, checked everywhere else (pyproject.toml).
typecheck: $(STAMP)
	$(VENV)/bin/mypy

test: $(STAMP) k8s lint typecheck
	$(PY) -m pytest -q -p no:cacheprovider

bench: $(STAMP) k8s
	$(PY) -m bench.l4
	$(PY) -m bench.l7

bench-scale: $(STAMP) k8s
	$(PY) -m bench.scale_l4
	$(PY) -m bench.scale_l7

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
