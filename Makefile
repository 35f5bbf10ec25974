# Quick start: `make run` (set up, ingest the bundled sample, print the incidents)
#              `make test` (set up, lint, run every test). CI runs `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAMPLE := data/samples/heroku-sample.log.gz
OUT := out

.PHONY: setup run test lint clean

$(BIN)/forensics: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

setup: $(BIN)/forensics

run: setup
	$(BIN)/forensics ingest $(SAMPLE) -o $(OUT)/sample --app acme-shop
	$(BIN)/forensics incidents $(OUT)/sample
	$(BIN)/forensics incidents $(OUT)/sample --markdown -o $(OUT)/sample-postmortem.md
	$(BIN)/forensics report $(OUT)/sample -o $(OUT)/sample-report.html

lint: setup
	$(BIN)/ruff check forensics tests bench
	$(BIN)/ruff format --check forensics tests bench

test: setup lint
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) $(OUT)
