# Two entry points (README): `make demo` sets up and runs the main job, `make test` sets up and runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUNS ?= runs
# The public data sets are read where they lie, never copied into the repository (README, section Data).
DATA ?= $(or $(NEUROLITE_DATA),../shared/data)
# SST-2 from that folder when it holds a copy, else through the Hugging Face datasets library (pip extra [data]).
SST2_TRAIN ?= $(if $(wildcard $(DATA)/sst2/train.tsv),$(DATA)/sst2/train.tsv,hf:stanfordnlp/sst2:train)
SST2_DEV ?= $(if $(wildcard $(DATA)/sst2/dev.tsv),$(DATA)/sst2/dev.tsv,hf:stanfordnlp/sst2:validation)

.PHONY: demo test lint clean

# torch first and alone: `pip install torch==2.13.0` takes the CPU build this machine keeps on disk.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[all,dev]"
	touch $(STAMP)

# The main job: train `tiny` on SST-2, export it to all four formats with parity checks, serve it from a bundle,
# then a quick benchmark against DistilBERT (about a minute) and its report (runs/bench/report.md).
demo: $(STAMP)
	@echo "demo data: SST-2 training rows from $(SST2_TRAIN), evaluation rows from $(SST2_DEV)"
	$(BIN)/neurolite train --train $(SST2_TRAIN) --eval $(SST2_DEV) --preset tiny --out $(RUNS)/sst2-tiny --overwrite
	$(BIN)/neurolite info $(RUNS)/sst2-tiny
	$(BIN)/neurolite export $(RUNS)/sst2-tiny --format all --out $(RUNS)/sst2-tiny-bundles --overwrite
	$(BIN)/neurolite run $(RUNS)/sst2-tiny-bundles/onnx "a gorgeous , witty , seductive movie ." "the plot is nothing but boilerplate clichés"
	$(BIN)/neurolite bench $(RUNS)/sst2-tiny --quick --out $(RUNS)/bench --overwrite
	$(BIN)/neurolite report $(RUNS)/bench

# The featurizer core first (golden runner and error tests with gcc, then under ASan/UBSan, then each
# libFuzzer harness for 20 s), then the Python suite, which also runs the WASM build in node and in
# headless Chromium, the Android library on the host JVM and the web demo against the Python runtime.
test: $(STAMP) web-deps
	$(MAKE) -C native test fuzz-smoke
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) $(RUNS)

# Web demo (web_demo/README.md): the npm packages pinned by web_demo/package-lock.json, and the featurizer's
# WebAssembly (native/js/neurolite_featurizer.wasm, built by native/wasm; needs clang-14, lld-14, wasi-libc).
.PHONY: web-deps web-demo
WEB_STAMP := web_demo/node_modules/.installed
WEB_BUNDLES ?= $(RUNS)/sst2-tiny-bundles/onnx $(wildcard $(RUNS)/sst2-tiny-bundles/tflite)
WEB_PORT ?= 8000

$(WEB_STAMP): web_demo/package.json web_demo/package-lock.json
	cd web_demo && npm ci --no-audit --no-fund
	touch $@

web-deps: $(WEB_STAMP)
	$(MAKE) -C native/wasm

# Serves the page on 127.0.0.1 with the bundles of `make demo` (or WEB_BUNDLES="DIR ..."); prints the URL.
web-demo: web-deps
	@for b in $(WEB_BUNDLES); do test -f $$b/manifest.json || { echo "$$b: no bundle there; run \`make demo\` first, or make web-demo WEB_BUNDLES=DIR" >&2; exit 1; }; done
	node web_demo/serve.mjs --port $(WEB_PORT) $(addprefix --bundle ,$(WEB_BUNDLES))
