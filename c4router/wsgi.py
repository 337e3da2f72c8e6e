"""WSGI entry point (management tools; production serves c4router.asgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "c4router.settings")

application = get_wsgi_application()
