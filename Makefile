# The two commands: `make run` (local stack) and `make test` (every test and gate).
# Both create .venv from requirements/dev.lock (hashes checked) first, so a fresh machine needs
# only Python 3.11+. requirements/runtime.lock is what the Lambda bundle carries (make package).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

LOCK_FLAGS := --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links

.PHONY: package locks run reset test venv browser lint typecheck imports pytest storm fuzz schema bench mutate clean outbox-parked outbox-requeue encrypt-pii

$(STAMP): requirements/dev.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed (found " + sys.version.split()[0] + ")")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/dev.lock
	@touch $(STAMP)

venv: $(STAMP)

# `make run` keeps every store of the last run (or starts all fresh, saying why);
# `make run FRESH=1` starts every store empty; `make reset` only empties them
run: venv
	$(BIN)/python -m infra.local.devstack $(if $(FRESH),--fresh)

reset: venv
	$(BIN)/python -m infra.local.devstack --reset

test: venv lint typecheck imports pytest

lint: venv
	$(BIN)/ruff check .

typecheck: venv
	$(BIN)/mypy

imports: venv
	$(BIN)/lint-imports

# tests marked slow stay out of `make test` (CI); the money storm is in it, and `make storm`
# runs it alone with its report
pytest: venv browser
	CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -m "not slow"

# The browser tests (tests/browser) drive Debian's Chromium through Playwright; no browser is
# downloaded. Installed with apt when missing (as root, or with sudo).
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium for the browser tests"; \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -q chromium >/dev/null 2>&1 || \
	  { $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -q >/dev/null && \
	    $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -q chromium >/dev/null; }; }
	@test -x $(CHROMIUM) || { echo "$(CHROMIUM) is missing: apt-get install chromium"; exit 1; }

# The money-path storm (issue 9): 1,000+ deliveries against a Razorpay slowed by 3 s; writes
# its answer times (p50/p99) to bench/results/webhook_storm.md. About a minute.
storm: venv
	STORM_REPORT=1 $(BIN)/python -m pytest tests/integration/test_webhook_storm_money.py -p no:randomly -s -q

# A longer fuzzing hunt than CI's (10x the examples, new ones each run); the tally is printed.
fuzz: venv
	FUZZ_EXAMPLES=10 FUZZ_RANDOM=1 $(BIN)/python -m pytest tests/fuzz -p no:randomly -s -q

# The Lambda artifact (python3.12 arm64, manylinux wheels): build/lambda.zip, sizes printed.
package: venv
	$(BIN)/python -m infra.aws.package

# Regenerate both lock files from pyproject.toml (pip-tools), the runtime one first: the dev
# lock is constrained to it, so tests run on the versions Lambda gets.
locks: venv
	PIP_CONSTRAINT= $(BIN)/pip-compile -q $(LOCK_FLAGS) -o requirements/runtime.lock pyproject.toml
	PIP_CONSTRAINT= $(BIN)/pip-compile -q $(LOCK_FLAGS) --extra dev -c requirements/runtime.lock -o requirements/dev.lock pyproject.toml

# Rewrite the committed SDL snapshot after an intended schema change.
schema: venv
	$(BIN)/python -m schema.snapshot --write

# The gateway benchmark (bench/README.md): the project under uvicorn against its baselines, driven
# by wrk; under 3 minutes on 2 cores; writes bench/results/ and bench/RESULTS.md. wrk comes from
# apt-get when missing (sudo when not root). Options: make bench BENCH_ARGS="--rounds 3".
WRK_INSTALL = if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get install -y wrk || { $$SUDO apt-get update && $$SUDO apt-get install -y wrk; }

bench: venv
	@command -v wrk >/dev/null || { echo "bench: installing wrk with apt-get"; $(WRK_INSTALL); }
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# Mutation testing of the money path against the unit tests ([tool.mutmut] in pyproject.toml;
# results in bench/results/mutation.md). Minutes, not seconds: not part of `make test`.
# A surviving mutant: `.venv/bin/mutmut show <name>`.
mutate: venv
	rm -rf mutants
	$(BIN)/mutmut run
	@echo "mutants per module and outcome:"
	@$(BIN)/mutmut results --all true | sed -E 's/^ *([A-Za-z_.]+)\.x.*: (.*)$$/\1: \2/' | sort | uniq -c
	@echo "not killed:"
	@$(BIN)/mutmut results

# The outbox's dead letter (README "Parked outbox messages"), on the app's settings
# (DATABASE_URL …). Optional filters: KIND=notify.customer IDS="id1 id2".
OUTBOX_FILTERS = $(if $(KIND),--kind $(KIND)) $(foreach id,$(IDS),--id $(id))

outbox-parked: venv
	$(BIN)/python -m app.outbox_admin list $(OUTBOX_FILTERS)

outbox-requeue: venv
	$(BIN)/python -m app.outbox_admin requeue $(OUTBOX_FILTERS)

# Seal customer PII left in plain text by rows from before encryption (idempotent), on the
# app's settings (DATABASE_URL, KMS_KEY_ID …); deploys and the local stack run it themselves.
encrypt-pii: venv
	$(BIN)/python -m app.encrypt_pii

clean:
	rm -rf $(VENV) build .devstack .pytest_cache .mypy_cache .ruff_cache
