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

.PHONY: venv build wheel demo test test-sdk-oldest test-wheel test-rust test-python bench histories corpus protos cli-docs clean

venv: $(STAMP)
$(STAMP): python/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r python/requirements.txt
	touch $@

build: venv
	cargo build --release --bin deja $(CARGO_JOBS)

# The deja-replay wheel (pyproject.toml, crates/deja-py): an abi3 extension module for
# CPython >= 3.10 plus the `deja` script, the Python API and the pytest plugin. Built in
# target/ (shared with the binary's dependencies), written to target/wheels/.
WHEEL_DIR := target/wheels
wheel: venv
	$(PY) -m pip install --quiet --disable-pip-version-check -r python/requirements-wheel.txt
	rm -f $(WHEEL_DIR)/deja_replay-*.whl
	CARGO_TARGET_DIR=$(abspath target) $(VENV)/bin/maturin build --release --out $(WHEEL_DIR) $(CARGO_JOBS)

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
	$(MAKE) test-wheel

# The wheel installed into a fresh venv: replay/check/debug through it, the Python API,
# the pytest plugin, the GitHub Action's steps and the pre-commit hook (tests/wheel.rs).
test-wheel: wheel
	cargo test --test wheel $(CARGO_JOBS) -- --ignored --test-threads=1

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
