# Two commands: `make run` and `make test`. Both set everything up on a fresh machine.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# Never a CUDA torch: requirements pin torch==2.13.0, which pip finds on this disk.
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test setup setup-dev models chromium lint bench clean flightai

run: setup models
	$(PY) app.py

# `make test` installs requirements-dev.txt, which could hide a runtime import listed only there.
# Instead of a second venv (twice the install time), tests/unit/test_requirements.py checks every
# import against requirements.txt, and tests/integration/test_runtime_install.py starts the app
# with only requirements.txt's packages importable and checks /healthz.
test: setup-dev models chromium
	$(PY) -m pytest

setup: $(VENV)/.installed
setup-dev: $(VENV)/.dev-installed

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed: requirements.txt | $(VENV)/bin/python
	$(PIP) install -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.installed
	$(PIP) install -r requirements-dev.txt
	touch $@

models: setup
	$(PY) prepare.py

# Debian's chromium for the browser tests (Playwright cannot download a browser here).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; }

lint: setup-dev
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache tests/browser/artifacts

# The model lab's proof case: LoRA the shipped Qwen on bench/flightai/, export models/flightai-qwen-q8_0.gguf
# (~60-70 min on 2 free cores; then pick it in Chat + tools, or WB_LOCAL_MODEL=models/flightai-qwen-q8_0.gguf).
flightai: setup models
	sh bench/train_flightai.sh
