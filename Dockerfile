# c4router: the admin, the API and the routing endpoint, served by gunicorn with uvicorn
# workers (ASGI), configured by c4router/gunicorn_conf.py. Settings come from the
# environment only (README, Configuration): at least SECRET_KEY, ALLOWED_HOSTS and
# DATABASE_URL; nothing secret is baked in. Run the migrations once per release:
#   docker run --rm --env-file c4router.env c4router python manage.py migrate
# compose.yaml runs a complete lab (PostgreSQL, c4router, Kamailio, SIPp).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: the dependencies in a virtualenv, copied whole into the runtime stage ---------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
# Dependencies first: this layer is rebuilt only when requirements.txt changes. Every pinned
# package has a manylinux wheel (psycopg[binary], uvloop, httptools, orjson): no compiler.
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --only-binary=:all: -r /tmp/requirements.txt

# --- runtime: slim, non-root, code owned by root and read-only for the service ---------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    C4ROUTER_MODE=production \
    C4ROUTER_VAR_DIR=/app/var \
    C4ROUTER_DECK_CACHE_DIR=/app/var/decks \
    STATIC_ROOT=/app/staticfiles \
    PROMETHEUS_MULTIPROC_DIR=/tmp/c4router-metrics \
    PORT=8000

# A fixed numeric uid: Kubernetes' runAsNonRoot can only check a numeric USER.
RUN groupadd --system --gid 10001 c4router \
    && useradd --system --uid 10001 --gid c4router --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin c4router

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
COPY manage.py ./
COPY c4router/ c4router/
COPY routing/ routing/
COPY templates/ templates/
# The Kamailio templates: `manage.py render_kamailio_config` runs from this image too.
COPY kamailio_cfg/ kamailio_cfg/

# Static files for WhiteNoise, and bytecode, at build time (the code is not writable at run
# time). Settings need a key and hosts to load: these placeholders exist only for this step
# and are not kept in the image's environment, and no metrics files are left behind (the
# multiprocess directory is only for the server). Writable by the service: /app/var, the
# metrics directory, and /etc/kamailio/c4router, where `render_kamailio_config` writes in
# the compose lab (a volume mounted there takes this owner).
RUN env -u PROMETHEUS_MULTIPROC_DIR \
        SECRET_KEY=collectstatic-only-not-a-real-secret-key-0123456789abcdefghij \
        ALLOWED_HOSTS=localhost \
        python manage.py collectstatic --noinput --verbosity 0 \
    && python -m compileall -q c4router routing \
    && rm -rf /app/var \
    && mkdir -p /app/var "$PROMETHEUS_MULTIPROC_DIR" /etc/kamailio/c4router \
    && chown c4router:c4router /app/var "$PROMETHEUS_MULTIPROC_DIR" /etc/kamailio/c4router

USER 10001:10001
EXPOSE 8000

# Liveness of the HTTP server (no curl in a slim image). /healthz is answered before Django
# and never touches the database; /readyz is what a load balancer should ask. The start
# period covers the routing table build at start (about 5 s per worker at 100k rules).
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/healthz', timeout=2)"]

CMD ["gunicorn", "--config", "c4router/gunicorn_conf.py", \
     "--worker-class", "uvicorn_worker.UvicornWorker", "c4router.asgi:application"]
