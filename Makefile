# wa-edge: `make dev` runs the worker locally, `make test` runs every test.
SHELL := /bin/bash
WORKER_BUILD_VERSION := 0.8.7
WASM_BINDGEN_VERSION := $(shell sed -n '/^name = "wasm-bindgen"$$/{n;s/version = "\(.*\)"/\1/p}' Cargo.lock)
CARGO_BIN := $(HOME)/.cargo/bin
export PATH := $(CARGO_BIN):$(PATH)
export WASM_BINDGEN_BIN := $(CARGO_BIN)/wasm-bindgen
export WASM_OPT_BIN := $(CURDIR)/node_modules/.bin/wasm-opt
export ESBUILD_BIN := $(CURDIR)/node_modules/.bin/esbuild
export WRANGLER_SEND_METRICS := false
# No outbound lookup of a sample Request.cf object.
export CLOUDFLARE_CF_FETCH_ENABLED := false
WRANGLER := node_modules/.bin/wrangler
PORT ?= 8787

.PHONY: setup tools node browser console build build-dev dev migrate lint test test-host test-e2e test-browser test-schema screenshots bench clean

## setup: install everything the build and tests need (idempotent).
setup: tools node browser

tools:
	@rustup target list --installed | grep -q wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@rustup component list --installed | grep -q clippy || rustup component add clippy rustfmt
	@worker-build --version 2>/dev/null | grep -q "$(WORKER_BUILD_VERSION)" || cargo install worker-build --version $(WORKER_BUILD_VERSION) --locked
	@wasm-bindgen --version 2>/dev/null | grep -q "$(WASM_BINDGEN_VERSION)" || cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION)

## browser: Debian's headless Chromium (and an emoji font, so screenshots
## show emoji) for the console's browser tests.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null && dpkg -s fonts-noto-color-emoji >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null; }

node: node_modules/.package-lock.json
node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

WASM_FEATURES := $(addprefix --enable-,mutable-globals sign-ext nontrapping-float-to-int bulk-memory multivalue reference-types exception-handling)

## build: optimised worker bundle in build/. worker-build keeps the wasm name
## section for readable stack traces; dropping it saves ~13% of the gzip size.
## The named copy stays in target/ for `make bench`'s cost of each crate.
build: console
	worker-build --release
	cp build/index_bg.wasm target/index_bg.named.wasm
	$(WASM_OPT_BIN) build/index_bg.wasm $(WASM_FEATURES) --strip-debug -o build/index_bg.wasm

## console: the web console's files in build/console (served as static assets).
console: node
	node console/build.mjs

## dev: build, apply migrations to the local D1, serve on 127.0.0.1:$(PORT).
dev: setup
	@[ -f .dev.vars ] || cp .dev.vars.example .dev.vars
	$(WRANGLER) d1 migrations apply DB --local
	$(WRANGLER) dev --local --ip 127.0.0.1 --port $(PORT)

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --lib --target wasm32-unknown-unknown -- -D warnings
	@python3 -c 'import openapi_spec_validator' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check openapi-spec-validator
	python3 -c 'import yaml; yaml.load(open("docs/openapi.yaml"), Loader=yaml.SafeLoader)'
	python3 -c 'from openapi_spec_validator import validate; from openapi_spec_validator.readers import read_from_filename; validate(read_from_filename("docs/openapi.yaml")[0])'

test-host:
	cargo test

## test-e2e: every suite in workerd, on the direct write path and again
## with 4 write shards (SHARDS=4).
test-e2e: build
	node --test --test-concurrency=1 tests/e2e/
	WA_EDGE_SHARDS=4 node --test --test-concurrency=1 tests/e2e/

## test-browser: the console in headless Chromium against wrangler dev (~1 min).
test-browser: build browser
	node --test --test-concurrency=1 tests/browser/

## screenshots: the console's main screens into docs/screenshots/.
screenshots: build browser
	SCREENSHOTS=1 node --test --test-concurrency=1 tests/browser/

## test-schema: docs/openapi.yaml against the local worker (Schemathesis, ~2 min).
test-schema: build
	bash tests/schema/run.sh

## test: lint, host tests, end-to-end tests in workerd, the console in
## Chromium, then the API contract.
test: setup lint test-host test-e2e test-browser test-schema

## bench: bundle size and load figures into docs/BENCHMARKS.md.
bench: setup build
	bash bench/run.sh

clean:
	rm -rf build target .wrangler
