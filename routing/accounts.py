"""Administrator accounts: the first superuser of a fresh installation."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.db import transaction


@dataclass(frozen=True)
class AdminAccount:
    created: bool
    password: str | None  # the new password, None when it was left unchanged


def ensure_admin(
    username: str = "admin", *, password: str | None = None, reset: bool = False
) -> AdminAccount:
    """Create the superuser if missing; set its password when created, reset or given.

    Without a password, a random one is generated. A given password must pass the
    project's password validators (ValidationError otherwise).
    """
    user_model = get_user_model()
    with transaction.atomic():
        user = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).first()
        created = user is None
        if user is None:
            user = user_model(**{user_model.USERNAME_FIELD: username})
        elif not reset and password is None:
            return AdminAccount(created=False, password=None)
        if password is None:
            password = secrets.token_urlsafe(12)
        else:
            validate_password(password, user)
        user.set_password(password)
        # A reset also repairs an account someone disabled or demoted: it is the way back in.
        user.is_active = user.is_staff = user.is_superuser = True
        user.save()
    return AdminAccount(created=created, password=password)
