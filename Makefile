# wuye — `make run` starts everything on embedded defaults; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck bench migrate fmt install

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m server dev

test: $(STAMP) miniprogram/node_modules
	$(PY) -m pytest tests -q
	cd miniprogram && npx jest --ci

miniprogram/node_modules: miniprogram/package-lock.json
	cd miniprogram && npm ci --no-audit --no-fund
	touch miniprogram/node_modules

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

typecheck: $(STAMP)
	$(VENV)/bin/mypy server bot hardware_gateway templates_msg

bench: $(STAMP)
	$(PY) -m pip install -q -e '.[dev,bench]'
	$(PY) -m tests.bench

migrate: $(STAMP)
	$(PY) -m server migrate
