"""Roles and what each may do: the single table every route is checked against."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    admin = "admin"
    developer = "developer"
    viewer = "viewer"


class Permission(StrEnum):
    read = "read"
    """See pipelines, runs, logs, modules, connections (masked), schemas and previews."""
    edit = "edit"
    """Create, change and delete pipelines; start and cancel runs; test connections."""
    manage = "manage"
    """Users, connections and their secrets, the audit trail."""


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.viewer: frozenset({Permission.read}),
    Role.developer: frozenset({Permission.read, Permission.edit}),
    Role.admin: frozenset({Permission.read, Permission.edit, Permission.manage}),
}


def allowed(role: str, permission: Permission) -> bool:
    try:
        return permission in GRANTS[Role(role)]
    except ValueError:
        return False
