# deja — the two commands a newcomer needs are `make demo` and `make test`.
# Each installs what it needs: the venv (python/requirements.txt) and a cargo build
# against that venv's Python (PYO3_PYTHON), so the binary embeds the same libpython.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PYO3_PYTHON := $(abspath $(PY))
STAMP := $(VENV)/.deja-requirements
DEJA := target/release/deja
CARGO_JOBS ?=

.PHONY: venv build demo test test-sdk-oldest test-rust test-python bench histories corpus protos cli-docs clean

venv: $(STAMP)
$(STAMP): python/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r python/requirements.txt
	touch $@

build: venv
	cargo build --release --bin deja $(CARGO_JOBS)

# deja's main job on the shipped histories: `deja check` replays every history against the
# code that wrote it (all pass), then `deja replay` explains the non-determinism the next
# deploy (histories/code_v2) would cause. (`deja replay` exits 1 there: expected.)
demo: build
	@echo "== deja check: every shipped history against histories/code (expect: all pass)"
	$(DEJA) check histories/ --workflows histories/code/workflows.py
	@echo
	@echo "== deja replay: the next deploy (histories/code_v2) against a recorded shopping cart (expect: non-determinism)"
	@$(DEJA) replay histories/shopping_cart.json --workflows histories/code_v2/workflows.py; \
		test $$? -eq 1

test: venv
	bash scripts/install-test-deps.sh
	cargo test --workspace $(CARGO_JOBS) -- --test-threads=2
	$(PY) python/deja_harness_selftest.py
	$(MAKE) test-sdk-oldest

# The harness self-test under the oldest temporalio deja supports (a cached venv; the
# Rust SDK version matrix, tests/sdk_matrix.rs, covers the releases in between).
test-sdk-oldest:
	bash scripts/sdk-venv.sh 1.10.0
	PYTHONDONTWRITEBYTECODE=1 target/sdk-venvs/1.10.0/bin/python python/deja_harness_selftest.py

bench: build
	$(PY) bench/run.py

histories: venv
	$(PY) histories/generate.py

corpus: venv
	$(PY) histories/generate.py corpus --count 500 --out target/corpus

protos: venv
	$(PY) scripts/vendor_protos.py crates/deja-proto/protos

# docs/CLI.md's help blocks, from the binary (tests/docs.rs checks they match).
cli-docs:
	cargo build --bin deja
	$(PY) scripts/gen_cli_docs.py

clean:
	cargo clean
