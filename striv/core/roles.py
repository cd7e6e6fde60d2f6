"""Roles are Django groups: viewer (read), operator (create/edit/delete jobs, run now), admin (load state, users).

A superuser has every role. Roles are cumulative: an admin may do what an operator may, an operator what a viewer may.
"""

from __future__ import annotations

from typing import Any

VIEWER = "viewer"
OPERATOR = "operator"
ADMIN = "admin"
ROLES = (VIEWER, OPERATOR, ADMIN)
_RANK = {VIEWER: 1, OPERATOR: 2, ADMIN: 3}


def user_role(user: Any) -> str | None:
    """The highest role of ``user`` (None for anonymous users and users without a role)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.is_superuser:
        return ADMIN
    names = getattr(user, "_striv_groups", None)
    if names is None:
        names = set(user.groups.values_list("name", flat=True))
        user._striv_groups = names
    best = None
    for name in names:
        if name in _RANK and (best is None or _RANK[name] > _RANK[best]):
            best = name
    return best


def has_role(user: Any, role: str) -> bool:
    """True when ``user`` has ``role`` or a higher one."""
    current = user_role(user)
    return current is not None and _RANK[current] >= _RANK[role]


def can_view(user: Any) -> bool:
    return has_role(user, VIEWER)


def can_operate(user: Any) -> bool:
    return has_role(user, OPERATOR)


def can_admin(user: Any) -> bool:
    return has_role(user, ADMIN)
