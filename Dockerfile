# c4router: the admin, the API and the routing endpoint, served by gunicorn with uvicorn
# workers (ASGI). Configure it with the environment variables of the README: at least
# SECRET_KEY, ALLOWED_HOSTS and DATABASE_URL. Run migrations once per release:
#   docker run --rm --env-file c4router.env c4router python manage.py migrate
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    C4ROUTER_VAR_DIR=/app/var \
    STATIC_ROOT=/app/staticfiles

RUN groupadd --system c4router \
    && useradd --system --gid c4router --home-dir /app --no-create-home c4router

WORKDIR /app

# Dependencies first: this layer is rebuilt only when requirements.txt changes.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# Static files for WhiteNoise. Settings need a key and hosts to load; these placeholders
# exist only for this step and are not kept in the image's environment.
RUN SECRET_KEY=collectstatic-only-not-a-real-secret-key-0123456789abcdefghij \
    ALLOWED_HOSTS=localhost \
    python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p /app/var \
    && chown -R c4router:c4router /app/var

USER c4router
EXPOSE 8000

CMD ["sh", "-c", "exec gunicorn c4router.asgi:application -k uvicorn.workers.UvicornWorker --bind 0.0.0.0:8000 --workers ${WEB_CONCURRENCY:-2} --access-logfile -"]
