# syntax=docker/dockerfile:1

# One image for every process of the shop: the web server (default CMD), the Celery worker
# groups, Celery beat and the one-shot migrate job (docker-compose.yml overrides the command).

# --- Stage 1: build the virtual environment ---------------------------------------------------
FROM python:3.11-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Compilers only for packages that ship no wheel for this platform; none of it reaches the
# final image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# Only requirements.txt, so the dependency layer is rebuilt only when the pins change.
COPY requirements.txt /tmp/requirements.txt
RUN pip install --upgrade pip \
    && pip install -r /tmp/requirements.txt

# --- Stage 2: runtime -----------------------------------------------------------------------
FROM python:3.11-slim-bookworm

# No apt packages: psycopg[binary] and Pillow bring their own shared libraries in their wheels.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=shop.settings \
    DEBUG=0 \
    LOG_FORMAT=json \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus-metrics

RUN groupadd --system --gid 10001 shop \
    && useradd --system --uid 10001 --gid shop --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin shop

WORKDIR /app

COPY --from=builder /opt/venv /opt/venv
# The source stays owned by root, so the running process cannot change its own code.
COPY . /app

# Static files are collected (and compressed, with a manifest) into the image. The secret key
# and host list exist only for this command; the real ones come from the environment at run
# time, and with DEBUG=0 the settings refuse to start without them.
RUN SECRET_KEY=build-only ALLOWED_HOSTS=localhost PAYMENTS_TEST_WEBHOOK_SECRET=build-only python manage.py collectstatic --noinput \
    && rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR" \
    && chown shop:shop "$PROMETHEUS_MULTIPROC_DIR" \
    && mkdir -p /app/media \
    && chown shop:shop /app/media

USER shop

EXPOSE 8000

# curl is not in the slim image, so the check uses urllib. It sends the first ALLOWED_HOSTS
# entry as the Host header (a leading "." or a "*" becomes a name that entry accepts), so the
# check passes whatever host list production uses. /healthz is exempt from the HTTPS redirect.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request as u; h = (os.environ.get('ALLOWED_HOSTS') or 'localhost').split(',')[0].strip().lstrip('.').replace('*', 'localhost') or 'localhost'; r = u.urlopen(u.Request('http://127.0.0.1:8000/healthz', headers={'Host': h}), timeout=4); sys.exit(0 if r.status == 200 else 1)"]

# gunicorn.conf.py (in /app) empties PROMETHEUS_MULTIPROC_DIR at start; the shop logs one JSON
# line per request itself, so gunicorn's plain-text access log is off.
CMD ["gunicorn", "shop.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4", "--threads", "4", "--worker-class", "gthread", "--timeout", "30"]
