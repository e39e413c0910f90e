# syntax=docker/dockerfile:1
# Coinsite's production image: one image for the web (uvicorn), the Celery worker and beat, chosen by the
# command (compose.yaml). Multi-stage: the build stage installs the requirements into a virtualenv, compiles
# the translations and collects the static files (hashed, compressed; whitenoise or the proxy serves them);
# the runtime stage carries only the virtualenv and the application, and runs as an unprivileged user.
# Written and reviewed here; no Docker daemon runs on the project's machines (see docs/operations.md).

ARG PYTHON_IMAGE=python:3.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends gettext \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /venv
COPY requirements.txt /app/requirements.txt
RUN /venv/bin/pip install -r /app/requirements.txt
WORKDIR /app
COPY . /app
# Settings refuse to load in production mode without their variables; these placeholders let the build
# steps load them. Nothing connects to them: collectstatic and compilemessages touch no service.
RUN env DEBUG=false COINSITE_VAR_DIR=/app/var \
      SECRET_KEY=build-only-placeholder-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz \
      ALLOWED_HOSTS=build.invalid SITE_URL=https://build.invalid \
      DATABASE_URL=postgres://build@127.0.0.1:1/build CELERY_BROKER_URL=redis://127.0.0.1:1/0 \
      EMAIL_URL=smtp://127.0.0.1:1 ALLOW_SANDBOX_PROVIDERS=true SANDBOX_WEBHOOK_SECRET=build-only \
    sh -c '/venv/bin/python manage.py collectstatic --noinput \
      && if ls locale/*/LC_MESSAGES/*.po >/dev/null 2>&1; then /venv/bin/python manage.py compilemessages --ignore .venv; fi'

FROM ${PYTHON_IMAGE} AS runtime
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home coinsite
COPY --from=build /venv /venv
COPY --from=build /app /app
ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    DEBUG=false LOG_FORMAT=json COINSITE_VAR_DIR=/app/var
WORKDIR /app
# The application and its static files belong to root and are read-only for the process user.
USER coinsite
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
# The web process; compose.yaml runs the same image as the worker and beat with their own commands.
CMD ["uvicorn", "coinsite.asgi:application", "--host", "0.0.0.0", "--port", "8000", \
     "--proxy-headers", "--forwarded-allow-ips", "*", "--no-access-log", "--timeout-graceful-shutdown", "3"]
