# Two commands do all the setup on a fresh machine (Python, pip and npm only):
#   make run    install, migrate, load the demo plant, serve on http://127.0.0.1:8000
#   make test   install and run the test suite (slow fault/simulation tests too when CI=true or SLOW=1);
#               it also installs the optional MLflow client and a local MLflow server for the registry tests
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
ifneq ($(CI)$(SLOW),)
SLOW_FLAG := --run-slow
endif

.PHONY: run test test-quick install install-dev install-mlflow mlflow-peer migrate demo static serve worker beat lint bench bench-ingest bench-fleet bench-drift bench-quality bench-page bench-queries bench-http bench-accuracy bench-detection bench-scale bench-forecast bench-registry clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

# The optional model registry client (MLFLOW_TRACKING_URI); the product runs without it.
$(VENV)/.installed-mlflow: $(VENV)/.installed requirements-mlflow.txt
	$(PIP) install --quiet -r requirements-mlflow.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev
install-mlflow: $(VENV)/.installed-mlflow

node_modules/.installed: package.json
	npm ci --no-audit --no-fund --silent || npm install --no-audit --no-fund --silent
	touch $@

# Chart.js comes from npm (pinned in package.json) and is served by whitenoise: no CDN.
static/vendor/chart.umd.min.js: node_modules/.installed
	mkdir -p static/vendor
	cp node_modules/chart.js/dist/chart.umd.min.js node_modules/chart.js/dist/chart.umd.min.js.map static/vendor/

static: $(VENV)/.installed static/vendor/chart.umd.min.js
	$(PY) manage.py collectstatic --noinput --verbosity 0

migrate: $(VENV)/.installed
	mkdir -p var
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py seed_demo
	$(PY) manage.py ensure_demo_user

run: demo static
	@echo "Serving on http://$(HOST):$(PORT)/  (admin: /admin/, dashboard: /ui/fleet, API docs: /docs)"
	$(PY) manage.py runserver $(HOST):$(PORT)

test: $(VENV)/.installed-dev $(VENV)/.installed-mlflow static/vendor/chart.umd.min.js mlflow-peer
	$(PY) -m pytest $(SLOW_FLAG) $(PYTEST_ARGS)

test-quick: $(VENV)/.installed-dev
	$(PY) -m pytest -x -q $(PYTEST_ARGS)

# The Celery app defaults to the production settings (like enms.wsgi); on a developer machine
# these targets run it with the local profile unless DJANGO_SETTINGS_MODULE says otherwise.
DEV_SETTINGS := DJANGO_SETTINGS_MODULE=$${DJANGO_SETTINGS_MODULE:-enms.settings.local}

worker: $(VENV)/.installed
	$(DEV_SETTINGS) $(VENV)/bin/celery -A enms worker -Q celery,cycles,training,notifications --loglevel=INFO --concurrency=2

beat: $(VENV)/.installed
	$(DEV_SETTINGS) $(VENV)/bin/celery -A enms beat --loglevel=INFO

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .

EVIDENTLY_PEER := bench/.peers/evidently

# Evidently 0.7.23 fails to import with pandas 3, so it gets its own virtualenv (gitignored).
$(EVIDENTLY_PEER)/.installed:
	$(PYTHON) -m venv $(EVIDENTLY_PEER)
	$(EVIDENTLY_PEER)/bin/pip install -q "evidently==0.7.23" "pandas<3"
	touch $@

MLFLOW_PEER := bench/.peers/mlflow

# The full MLflow (tracking server, SQLite backend) for the registry tests and bench/registry.py, in
# its own virtualenv (gitignored): it pins packages the product does not want. Installed once; if it
# cannot be installed (offline), the registry tests skip and say why.
$(MLFLOW_PEER)/.installed:
	$(PYTHON) -m venv $(MLFLOW_PEER)
	$(MLFLOW_PEER)/bin/pip install -q "mlflow==3.17.2" "mlflow-skinny==3.17.2"
	touch $@

mlflow-peer:
	@$(MAKE) --no-print-directory $(MLFLOW_PEER)/.installed || echo "MLflow peer not installed: the registry tests will skip"

bench-registry: $(VENV)/.installed-mlflow mlflow-peer
	mkdir -p bench/out
	$(PY) bench/registry.py --json bench/out/registry.json

EEMETER_PEER := bench/.peers/eemeter

# OpenEEmeter's CalTRACK hourly model, pinned, for bench/accuracy.py. eemeter 4.1.1 imports pytz
# without declaring it and fails with pandas 3, so it gets its own virtualenv (gitignored).
$(EEMETER_PEER)/.installed:
	$(PYTHON) -m venv $(EEMETER_PEER)
	$(EEMETER_PEER)/bin/pip install -q "eemeter==4.1.1" "pandas==2.3.3" "pytz==2026.6"
	touch $@

# Every benchmark, then bench/results.md (one table, each figure beside its same-run limit or peer).
bench: $(VENV)/.installed-dev $(VENV)/.installed-mlflow static/vendor/chart.umd.min.js $(EVIDENTLY_PEER)/.installed $(EEMETER_PEER)/.installed $(MLFLOW_PEER)/.installed
	@command -v pgbench >/dev/null || { echo "make bench needs pgbench: apt-get install -y postgresql-client"; exit 1; }
	$(PY) bench/run_all.py

bench-drift: $(VENV)/.installed $(EVIDENTLY_PEER)/.installed
	mkdir -p bench/out
	$(PY) bench/drift.py --json bench/out/drift.json

bench-detection: $(VENV)/.installed
	mkdir -p bench/out
	$(PY) bench/detection.py --runs $${RUNS:-20} --train-days $${TRAIN_DAYS:-75} --json bench/out/detection.json

bench-accuracy: $(VENV)/.installed $(EEMETER_PEER)/.installed
	mkdir -p bench/out
	$(PY) bench/accuracy.py --json bench/out/accuracy.json

bench-fleet: $(VENV)/.installed
	mkdir -p bench/out
	$(PY) bench/fleet.py --machines $${MACHINES:-200} --json bench/out/fleet.json

bench-forecast: $(VENV)/.installed
	mkdir -p bench/out
	$(PY) bench/forecast.py --machines $${MACHINES:-300} --json bench/out/forecast.json

bench-quality: $(VENV)/.installed
	mkdir -p bench/out
	$(PY) bench/quality.py --json bench/out/quality.json

bench-page: $(VENV)/.installed-dev static/vendor/chart.umd.min.js
	mkdir -p bench/out
	$(PY) bench/page.py --json bench/out/page.json

bench-ingest: $(VENV)/.installed
	mkdir -p bench/out
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} $(PY) bench/ingest.py --json bench/out/ingest.json

# Needs PostgreSQL (BENCH_ADMIN_DATABASE_URL) and Redis (BENCH_REDIS_URL; its db is emptied).
bench-scale: $(VENV)/.installed
	mkdir -p bench/out
	$(PY) bench/scale.py --sizes $${SIZES:-1000,5000,10000} --json bench/out/scale.json

bench-queries: $(VENV)/.installed
	mkdir -p bench/out
	$(PY) bench/queries.py --json bench/out/queries.json

bench-http: $(VENV)/.installed
	@command -v pgbench >/dev/null || { echo "bench-http needs pgbench: apt-get install -y postgresql-client"; exit 1; }
	mkdir -p bench/out
	$(PY) bench/http_load.py --users $${USERS:-2,8} --json bench/out/http.json

clean:
	rm -rf $(VENV) var node_modules
