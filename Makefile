# Quick start: `make run` (set up, ingest the bundled sample, print the incidents)
#              `make test` (set up, lint, run every test). CI runs `make test`.
# Setup builds the Rust core (native/) in release mode when cargo is there; without it the
# Polars engine runs, and the Rust checks below are skipped (each says so).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAMPLE := data/samples/heroku-sample.log.gz
OUT := out

NATIVE := native/Cargo.toml
HAVE_CARGO := $(shell command -v cargo 2>/dev/null)

.PHONY: setup run test lint native-test fuzz-smoke clean

$(BIN)/forensics: pyproject.toml $(NATIVE) $(wildcard native/src/*.rs)
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@$(BIN)/python -c "from forensics import native; print('native core:', 'built' if native.AVAILABLE else native.NOT_BUILT)"
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

# The core's Rust unit tests, format and lints (one cargo profile: release).
native-test:
ifdef HAVE_CARGO
	cargo fmt --manifest-path $(NATIVE) --check
	cargo clippy --quiet --release --all-features --manifest-path $(NATIVE) -- -D warnings
	cargo test --quiet --release --manifest-path $(NATIVE)
else
	@echo "cargo not found: the Rust tests of native/ are skipped"
endif

# 30 s of libFuzzer on the core (the long run: bench/README.md).
fuzz-smoke:
ifdef HAVE_CARGO
	native/fuzz/run.sh 30
else
	@echo "cargo not found: the fuzz smoke run is skipped"
endif

test: setup lint native-test fuzz-smoke
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) $(OUT)
