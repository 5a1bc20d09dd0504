# The two commands a newcomer needs: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEMO_PRODUCTS ?= 2000
HOST ?= 127.0.0.1
PORT ?= 8000
# Two workers fit the 2-core machines (loadgroup keeps the live-broker tests in one of them);
# PYTEST_ARGS="-n0 -k name" for one test in one process.
PYTEST_ARGS ?= -n 2 --dist loadgroup

.PHONY: run test lint check migrate demo worker worker-inventory worker-payments beat clean

$(VENV)/.installed-run: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed-run
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

## run: the shop on the embedded default (SQLite, local cache, eager Celery) at http://127.0.0.1:8000
run: $(VENV)/.installed-run
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo_catalog --products $(DEMO_PRODUCTS)
	$(PY) manage.py ensure_demo_admin
	@echo "Storefront: http://$(HOST):$(PORT)/"
	$(PY) manage.py runserver $(HOST):$(PORT)

## test: the whole suite against whatever DATABASE_URL, REDIS_URL and CELERY_BROKER_URL name
test: $(VENV)/.installed-dev
	$(PY) -m pytest $(PYTEST_ARGS)

## lint: ruff, import contracts, migrations in step with the models
lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) manage.py makemigrations --check --dry-run

migrate: $(VENV)/.installed-run
	$(PY) manage.py migrate --noinput

demo: $(VENV)/.installed-run
	$(PY) manage.py load_demo_catalog --products $(DEMO_PRODUCTS)

## worker / beat: real Celery processes (need CELERY_BROKER_URL); docs/pipeline.md sizes them.
# Concurrency is explicit: on one small machine beside the web server, one process per group
# (allocation decides thousands of lines/s in one process; more e-mail processes only add
# contention for the cores gunicorn needs).
WORKER_CONCURRENCY ?= 1
INVENTORY_CONCURRENCY ?= 1
PAYMENTS_CONCURRENCY ?= 1
worker: $(VENV)/.installed-run
	$(VENV)/bin/celery -A shop worker -Q default,email,images --prefetch-multiplier=1 --concurrency=$(WORKER_CONCURRENCY) -l INFO -n general@%h
worker-inventory: $(VENV)/.installed-run
	$(VENV)/bin/celery -A shop worker -Q inventory --prefetch-multiplier=1 --concurrency=$(INVENTORY_CONCURRENCY) -l INFO -n inventory@%h
worker-payments: $(VENV)/.installed-run
	$(VENV)/bin/celery -A shop worker -Q payments,payment_results --prefetch-multiplier=1 --concurrency=$(PAYMENTS_CONCURRENCY) -l INFO -n payments@%h
beat: $(VENV)/.installed-run
	$(VENV)/bin/celery -A shop beat -l INFO --schedule $(VENV)/celerybeat-schedule

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
