"""Failed logins throttled with django-axes: the admin's login page and the API's token.

Axes counts failed logins per user name and client address (settings.py, "Login
throttling"); at the limit, that user cannot log in from that address until the cool-off has
passed. This module is c4router's side of it: the client address Axes counts by, the backend
that refuses a locked-out login before any password is checked, and what the client is told
(a 429 with the reason: the admin's page, or the API's JSON).
"""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib import admin
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.exceptions import APIException
from rest_framework.request import Request


def client_ip(request: HttpRequest) -> str | None:
    """The address failed logins are counted by: the connection's peer (REMOTE_ADDR).

    Never an X-Forwarded-For the client writes itself (django-ipware's way, if it were
    installed): the server puts a proxy's client there only for C4ROUTER_TRUSTED_PROXIES
    (c4router/gunicorn_conf.py).
    """
    return request.META.get("REMOTE_ADDR")


class LoginThrottleBackend(AxesStandaloneBackend):
    """Axes' check, first in AUTHENTICATION_BACKENDS: a locked-out login is refused before a
    password is looked at.

    Only for logins from a request: authenticate() without one (Django's test client, a
    shell, a script) has no client address to count, and Axes would refuse it outright. The
    admin's login form and DRF's token view always pass theirs.
    """

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> None:
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)  # type: ignore[no-any-return]


def lockout_response(request: HttpRequest, *args: object) -> HttpResponse:
    """What a locked-out login gets from the admin (AXES_LOCKOUT_CALLABLE)."""
    context = {
        **admin.site.each_context(request),
        "title": "Log in",
        "message": settings.AXES_COOLOFF_MESSAGE,
    }
    return render(request, "admin/lockout.html", context, status=settings.AXES_HTTP_RESPONSE_CODE)


class LoginLockedOut(APIException):
    status_code = 429
    default_code = "locked_out"

    def __init__(self) -> None:
        super().__init__(settings.AXES_COOLOFF_MESSAGE)
        self.wait = int(settings.AXES_COOLOFF_TIME.total_seconds())  # DRF's Retry-After


@receiver(user_locked_out)
def _refuse_api_login(sender: object, request: object = None, **kwargs: object) -> None:
    """The token view's answer. Axes flags the request it is given, and the admin's lockout
    response comes from its middleware; DRF hands Axes its own Request wrapper, whose flag
    the middleware never sees, so the view would answer a plain "Unable to log in". Raised
    here, inside authenticate(), it becomes DRF's 429 with the reason (Axes' documented way
    for DRF)."""
    if isinstance(request, Request):
        raise LoginLockedOut
