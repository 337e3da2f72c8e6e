"""ASGI entry point: gunicorn with uvicorn workers, or uvicorn, serve this."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "c4router.settings")

application = get_asgi_application()
