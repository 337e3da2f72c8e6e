"""Settings for the test suite: dev mode on PostgreSQL unless told otherwise.

The suite talks to a real PostgreSQL (127.0.0.1:5432, trust auth, as on our machines and in
CI); DATABASE_URL overrides it. pytest-django creates and drops the test_<name> database.
"""

import hashlib
import os

os.environ.setdefault("C4ROUTER_MODE", "dev")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/c4router")
os.environ.setdefault(
    "C4ROUTER_VAR_DIR", os.path.join(os.path.dirname(__file__), "..", "var", "test")
)

from c4router.settings import *  # noqa: F403

# One test database per checkout (test_c4router_<hash of its path>): two clones running the
# suite at the same time on one server must not drop each other's database.
_checkout = hashlib.sha256(str(BASE_DIR).encode()).hexdigest()[:8]  # noqa: F405
for _alias in DATABASES.values():  # noqa: F405
    if _alias["ENGINE"] == "django.db.backends.postgresql" and "MIRROR" not in _alias.get(
        "TEST", {}
    ):
        _alias["TEST"] = {**_alias.get("TEST", {}), "NAME": f"test_{_alias['NAME']}_{_checkout}"}

# Fast password hashing: the suite creates users, it does not test PBKDF2.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The suite builds routing tables explicitly (tests/routing/conftest.py): no background
# reload thread reading the database behind a test's transaction. Live-server tests start
# real processes with the production behaviour.
C4ROUTER = {**C4ROUTER, "RELOAD_THREAD": False}  # noqa: F405
# Imports run in the test's own process, inside its transaction (tests that start the child
# process for real turn it on: tests/imports/test_import_process.py).
C4ROUTER["IMPORT_CHILD"] = False
