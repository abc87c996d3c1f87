# keras-residual: the two commands a newcomer runs are `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUN_DIR := runs/digits
EXPORT_DIR := exports

.PHONY: install demo test lint test-tf test-torch test-onednn-off test-client-venv docs-build docs plots bench browser clean soak

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[all]'
	touch $(STAMP)

install: $(STAMP)

# The main job: train resnet20_cifar on the embedded digits data, then export and check it.
demo: $(STAMP)
	$(VENV)/bin/keras-residual train --preset resnet20_cifar --data digits --epochs 6 --out $(RUN_DIR)
	$(VENV)/bin/keras-residual export saved-model $(RUN_DIR)/model.keras --base-path $(EXPORT_DIR)/digits
	$(VENV)/bin/keras-residual export onnx $(RUN_DIR)/model.keras $(EXPORT_DIR)/digits.onnx

# ruff, then RESULTS.md and the docs' generated figures must be their renderings from benchmarks/ records.
lint: $(STAMP)
	$(VENV)/bin/ruff check keras_residual tests benchmarks docs/scripts
	$(PY) benchmarks/report.py --check

# Headless Chromium for the docs browser test (Debian package; the test says why it skips if this fails).
browser:
	@command -v chromium >/dev/null 2>&1 || { (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 || echo "chromium could not be installed: the docs browser test will skip"; }

docs-build: $(STAMP)
	$(VENV)/bin/mkdocs build --strict --site-dir site

# pytest exits 5 when it collects no test; make treats that (like any non-zero code) as a failure.
# Two xdist workers: most of a test's time is single-threaded Python (tracing, model building).
PYTEST := $(PY) -m pytest -q -n 2 --dist loadgroup --durations=15 -p no:cacheprovider

test-tf: $(STAMP)
	KERAS_BACKEND=tensorflow $(PYTEST) tests

# The backend-agnostic layers and models again on torch; the `slow` full-depth cases
# (deep keras.applications conversions, full-depth round trips) run on TensorFlow only.
test-torch: $(STAMP)
	KERAS_BACKEND=torch $(PYTEST) -m "not slow" tests/layers tests/models

# TensorFlow's oneDNN kernels (its x86 default) and its plain Eigen kernels differ (a conv over batch 0
# returns a wrong shape under oneDNN only): the batch-0, serving and fuzz checks run again with oneDNN off
# (not the SavedModel checks that run no kernels: layout, signatures, arguments, limits, the dtype choice).
ONEDNN_OFF_TESTS := tests/models/test_empty_batch.py tests/export/test_saved_model.py tests/fuzz
ONEDNN_OFF_SKIP := layout_and_assets or saved_model_cli or signature_defs or max_pixels or auto_compute_dtype \
	or bad_arguments or base_path_that or multi_output or decompression_bombs
test-onednn-off: $(STAMP)
	TF_ENABLE_ONEDNN_OPTS=0 KERAS_BACKEND=tensorflow $(PYTEST) $(ONEDNN_OFF_TESTS) -k "not ($(ONEDNN_OFF_SKIP))"

# The TF Serving client alone: a fresh venv with `pip install '.[client]'` (no TensorFlow, no Keras),
# calling the stand-in server (run from .venv) over gRPC and REST; about 2 minutes, needs PyPI or pip's cache.
test-client-venv: $(STAMP)
	$(PY) tests/client/clean_venv.py

# The clean client venv (mostly pip waiting on downloads and disk) and the browser install run beside lint and
# the docs build; then the test suites, one after the other (each keeps both cores busy).
test: $(STAMP)
	$(MAKE) --no-print-directory -j4 --output-sync=target browser lint docs-build test-client-venv
	$(MAKE) --no-print-directory test-tf test-onednn-off test-torch

# The fuzz suite at 20,000 mutated images through a served export (`make test` runs 2,000 of them).
soak: $(STAMP)
	KERAS_BACKEND=tensorflow KERAS_RESIDUAL_FUZZ_CASES=20000 $(PY) -m pytest -q -n 0 -p no:cacheprovider tests/fuzz

bench: $(STAMP)
	$(PY) benchmarks/run.py

# Regenerate the measured plots committed under docs/assets (a few minutes).
plots: $(STAMP)
	$(PY) docs/scripts/make_plots.py

docs: $(STAMP)
	$(VENV)/bin/mkdocs serve -a 127.0.0.1:8000

clean:
	rm -rf site build dist runs exports benchmarks/out .pytest_cache
