# Docket: `make run` serves the embedded default; `make test` runs every test.
CARGO ?= cargo

.PHONY: run build test lint fmt clean-data

run:
	$(CARGO) run -p docket-server --bin docket -- serve

build:
	$(CARGO) build --workspace --all-targets

# The end-to-end tests start the real binary, so it is built first.
test:
	$(CARGO) build -p docket-server --bin docket
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --no-fail-fast; \
	else \
		$(CARGO) test --workspace --no-fail-fast; \
	fi

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean-data:
	rm -rf ./data
