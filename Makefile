# The targets are the documentation of how to work on this project. `make run` and `make test` need nothing
# but Python 3.11 (or 3.12): with no DATABASE_URL they start an embedded PostgreSQL under .data/.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export DJANGO_ALLOW_ASYNC_UNSAFE := true

.PHONY: run test test-integration lint fmt bench bench-ledger bench-admin bench-api bench-import bench-import-floor \
        messages makemessages migrate demo worker stop clean install browser-deps

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

messages: install
	$(PY) manage.py compilemessages --ignore "$(VENV)/*" --verbosity 0

makemessages: install
	for lang in ar ms; do $(PY) manage.py makemessages --locale $$lang --ignore "$(VENV)/*" --ignore "bench/*" \
	    --ignore "tests/*" --ignore ".data/*" --no-obsolete; done

migrate: install
	$(PY) manage.py migrate --no-input

demo: migrate
	$(PY) manage.py load_demo

# Runs the admin with the demo program, a Celery worker and beat (no broker server needed by default).
# The worker gets its own process group (set -m), so Ctrl-C or a kill of make's group reaches only the worker's
# main process (through the trap) and never its pool children, whose death would hang the warm shutdown.
run: messages demo
	@$(PY) manage.py ensure_admin --port $(PORT)
	@mkdir -p .data/log; \
	set -m; $(VENV)/bin/celery -A config worker --beat --loglevel=INFO --concurrency=2 \
	    --schedule .data/celery/beat-schedule --pidfile .data/celery/worker.pid \
	    >.data/log/celery.log 2>&1 & worker=$$!; set +m; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	echo "Celery worker and beat running (log: .data/log/celery.log)"; \
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

worker: install
	$(VENV)/bin/celery -A config worker --beat --loglevel=INFO

# Chromium from the distribution drives the browser tests; a Playwright browser download is not used.
browser-deps:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); } || \
	    echo "chromium is not installed: browser tests will be skipped"

test: messages browser-deps
	$(PY) -m pytest $(PYTEST_ARGS)

# The same suite against real services, e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty
# CELERY_BROKER_URL=redis://127.0.0.1:6379/15 make test-integration
test-integration: messages browser-deps
	@test -n "$$DATABASE_URL" || { echo "set DATABASE_URL (and CELERY_BROKER_URL)"; exit 2; }
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Benchmarks run on a database of their own: DATABASE_URL if set, else `loyalty_bench` on the embedded server;
# each script migrates it. Results are recorded in docs/benchmarks.md. bench-admin generates the big dataset
# first when it is not there yet (BENCH_DATA sets its size, e.g. BENCH_DATA="--members 10000 --entries 100000").
BENCH_DATA ?= --members 1000000 --entries 10000000

bench: bench-ledger bench-admin

bench-ledger: install
	$(PY) bench/ledger_throughput.py $(BENCH_LEDGER_ARGS)

bench-admin: install
	$(PY) bench/generate_big_data.py $(BENCH_DATA)
	$(PY) bench/admin_big_tables.py $(BENCH_ADMIN_ARGS)

# The legacy import end to end on a generated 1M-row file, and django-import-export's bulk mode for the ratio.
# It drops and recreates the database named in DATABASE_URL (default loyalty_bench_import on the local server).
bench-import: install
	$(PY) bench/import_legacy.py $(BENCH_IMPORT_ARGS)

# The floor for that import: the same file and schema, loaded by a hand-written set-based SQL pipeline (COPY, then
# one INSERT ... SELECT per table, one transaction). It drops and recreates the database named in DATABASE_URL
# (default loyalty_bench_floor on the local server).
bench-import-floor: install
	$(PY) bench/import_floor.py $(BENCH_IMPORT_FLOOR_ARGS)

# The partner earn endpoint under gunicorn and wrk (Debian package wrk), against a naive DRF earn view and a
# bare view, e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench_api make bench-api
bench-api: install
	$(PY) bench/api_earn.py $(BENCH_API_ARGS)

# Stops an embedded PostgreSQL left running by a killed process.
stop:
	-@if [ -f .data/celery/worker.pid ]; then pid=$$(cat .data/celery/worker.pid); kill $$pid 2>/dev/null; \
	    for i in $$(seq 60); do kill -0 $$pid 2>/dev/null || break; sleep 0.5; done; fi
	-$(PY) -m config.embedded_postgres stop

clean: stop
	rm -rf $(VENV) .data
