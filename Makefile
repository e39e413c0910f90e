# Coinsite — `make run` brings up the site with demo data, `make test` runs the test suite.
# Both work on a fresh clone with Python >= 3.12 and nothing else: with DATABASE_URL unset they
# start the project's own embedded PostgreSQL under var/ and stop it when they end. `make run`
# also runs a Celery worker and beat (on a broker folder under var/ unless CELERY_BROKER_URL is
# set); in tests Celery runs tasks eagerly unless a test starts a worker.

SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# Where `make run` serves the site; settings derive SITE_URL (links, webhooks, CSRF origin) from them.
export HOST ?= 127.0.0.1
export PORT ?= 8000

# Development defaults; any of them can be overridden from the environment.
export DEBUG ?= true
# Commands that need the database, other than manage.py and pytest (they start it themselves).
WITH_DB := $(PY) -m coinsite.embedded_db

.PHONY: cluster cluster-bench cluster-stop cluster-status cluster-test nginx test-deep run test install lint format typecheck migrate seed worker beat browser gettext bench bench-live clean

# Migrations, demo data, then uvicorn (ASGI, for the live pages' event streams), a Celery worker and
# beat side by side (coinsite/devserver.py); Ctrl-C stops them all and the embedded PostgreSQL.
run: install
	$(PY) -m coinsite.devserver

test: install browser gettext
	$(BIN)/pytest $(PYTEST_ARGS)

# The ledger's Hypothesis state machine with 2,000 examples (CI runs 200) and the gift's fast path against the
# general one with 1,000 (CI 120): run it before submitting a change to the posting path (wallet/ledger.py, the
# SQL functions wallet_ledger_spend and gifting_gift_send, the roll-up).
test-deep: install
	LEDGER_STATEFUL_EXAMPLES=2000 GIFT_FAST_PATH_EXAMPLES=1000 $(BIN)/pytest wallet/tests/test_ledger_stateful.py \
	  wallet/tests/test_ledger_spend.py gifting/tests/test_gift_fast_path.py $(PYTEST_ARGS)

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@python=""; \
	for candidate in python3.13 python3.12 python3 \
	    $$(command -v pyenv >/dev/null && ls -d "$$(pyenv root)"/versions/3.1[2-9]*/bin/python3 2>/dev/null); do \
	  if command -v "$$candidate" >/dev/null 2>&1 && \
	     "$$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
	    python="$$candidate"; break; \
	  fi; \
	done; \
	if [ -z "$$python" ]; then \
	  echo "Coinsite needs Python 3.12 or newer (3.13 preferred). Install it (e.g. 'pyenv install 3.13')" >&2; \
	  echo "and run make again." >&2; exit 1; \
	fi; \
	echo "Creating $(VENV) with $$python ($$($$python --version))"; \
	"$$python" -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@

migrate: install
	$(PY) manage.py migrate --noinput

seed: install
	$(PY) manage.py seed_demo

# Browser tests drive Debian's Chromium (and ffmpeg makes the live room's test video); install them when
# missing and we are allowed to.
browser:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v ffmpeg >/dev/null 2>&1 || missing="$$missing ffmpeg"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing$$missing for the browser tests (apt-get install$$missing)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null) \
	      || echo "Could not install$$missing: browser tests that need them will be skipped." >&2; \
	  else \
	    echo "Not installed:$$missing. Browser tests that need them will be skipped (apt-get install$$missing)." >&2; \
	  fi; \
	fi

# The catalogue checks run Django's makemessages and compilemessages, which need GNU gettext.
gettext:
	@if ! command -v msgfmt >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing GNU gettext for the catalogue checks (apt-get install gettext)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gettext >/dev/null) \
	      || echo "Could not install gettext: catalogue checks will be skipped." >&2; \
	  else \
	    echo "GNU gettext is not installed: catalogue checks will be skipped (apt-get install gettext)." >&2; \
	  fi; \
	fi

# Gift throughput interleaved with pgbench on the same PostgreSQL, 3 rounds, medians and spreads (var/bench/gifts.json;
# e.g. BENCH_ARGS="--rounds 5 --http-path /live/{stream}/tap/ --http-json"), then the creator
# dashboard with a million gifts against an empty one (var/bench/dashboard.json); each prints a table.
bench: install migrate
	$(PY) manage.py bench_gifts $(BENCH_ARGS)
	$(PY) manage.py bench_dashboard $(DASHBOARD_BENCH_ARGS)

# Live delivery: 1,000 and 5,000 Server-Sent Events viewers on one stream of one uvicorn process while gifts
# go through gift_send at 10/s (var/bench/live.json); e.g. BENCH_LIVE_ARGS="--viewers 1000,5000,10000".
bench-live: install migrate
	$(PY) manage.py bench_live $(BENCH_LIVE_ARGS)

# Production on one machine (deploy/cluster.py, docs/operations.md): nginx in front of three uvicorn
# processes, two Celery workers and beat on Redis, a PostgreSQL primary and a streaming replica, all
# under var/cluster/ on ports 8150-8158 (CLUSTER_PORT_BASE moves them). Needs root (PostgreSQL runs as
# the postgres user) and installs nginx with apt when it is missing.
cluster: install nginx
	$(PY) deploy/cluster.py up

cluster-stop:
	$(PY) deploy/cluster.py stop

cluster-status:
	$(PY) deploy/cluster.py status

# The failure drills: up, each drill under a gift storm, var/cluster/drills.json, down; non-zero if
# anything was lost or duplicated or an audit failed.
cluster-test: install nginx
	$(PY) deploy/cluster.py test

# The gift benchmark through nginx against the three web processes, beside pgbench on the cluster's
# primary (var/cluster/bench.json); starts the cluster if it is not running and leaves it running.
cluster-bench: install nginx
	$(PY) deploy/cluster.py bench

nginx:
	@if ! command -v nginx >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing nginx for the cluster (apt-get install nginx)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends nginx >/dev/null) \
	      || { echo "Could not install nginx: make cluster needs it." >&2; exit 1; }; \
	  else \
	    echo "make cluster needs nginx: apt-get install nginx" >&2; exit 1; \
	  fi; \
	fi
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends redis-server >/dev/null; \
	  else echo "make cluster needs redis-server: apt-get install redis-server" >&2; exit 1; fi; }

lint: install
	$(BIN)/ruff check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# mypy with django-stubs (settings in pyproject.toml). The plugin imports the settings but never
# connects, so a placeholder DATABASE_URL keeps the embedded PostgreSQL from starting for nothing.
typecheck: install
	DATABASE_URL=$${DATABASE_URL:-postgres://typecheck@127.0.0.1:5432/unused} $(BIN)/mypy .

worker: install
	$(WITH_DB) $(BIN)/celery -A coinsite worker --loglevel=INFO

beat: install
	$(WITH_DB) $(BIN)/celery -A coinsite beat --loglevel=INFO --schedule var/celerybeat-schedule

clean:
	rm -rf $(VENV) var/staticfiles
