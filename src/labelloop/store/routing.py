"""A project's routing policy (one row per project; none stored: the defaults)."""

from __future__ import annotations

from sqlalchemy import Connection, select

from labelloop.core.routing import RoutingPolicy
from labelloop.store import tables as t
from labelloop.store.repo import Project, now_iso

__all__ = ["read_routing_policy", "write_routing_policy"]


def read_routing_policy(conn: Connection, project: Project) -> RoutingPolicy | None:
    """The project's stored routing policy, or None when it never set one."""
    rp = t.routing_policies
    row = conn.execute(select(rp).where(rp.c.project_id == project.id)).first()
    if row is None:
        return None
    return RoutingPolicy(
        float(row.target_precision), float(row.audit_fraction), bool(row.show_suggestion)
    )


def write_routing_policy(conn: Connection, project: Project, policy: RoutingPolicy) -> None:
    """Store ``policy`` as the project's routing policy."""
    rp = t.routing_policies
    values = {
        "target_precision": policy.target_precision,
        "audit_fraction": policy.audit_fraction,
        "show_suggestion": policy.show_suggestion,
        "updated_at": now_iso(),
    }
    exists = conn.execute(select(rp.c.project_id).where(rp.c.project_id == project.id)).first()
    if exists is None:
        conn.execute(rp.insert().values(project_id=project.id, **values))
    else:
        conn.execute(rp.update().where(rp.c.project_id == project.id).values(**values))
