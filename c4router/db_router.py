"""Primary/replica routing of database queries.

With DATABASE_REPLICA_URL set, the routing table (routing.loader, the big read on every
change) is read from the replica. Everything else reads the primary, so an admin sees what
they just saved, and every write goes to the primary, even for an object that was read
from the replica. Migrations run on the primary only: the replica follows by replication.
"""

from __future__ import annotations

from typing import Any

PRIMARY = "default"
REPLICA = "replica"


class PrimaryReplicaRouter:
    def db_for_read(self, model: type, **hints: Any) -> str | None:
        return None  # the primary, unless a caller asks with .using(...)

    def db_for_write(self, model: type, **hints: Any) -> str:
        return PRIMARY

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # one database, two ways in

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == PRIMARY
