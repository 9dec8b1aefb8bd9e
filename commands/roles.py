"""Roles and what each may do.

Roles come from the config (`[roles]`: Slack user ids and user group ids per role); a user in
several gets the highest. Viewers read, engineers also change budgets and act on anomalies,
admins do everything. Every state-changing handler calls `require` before it changes anything.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable

import structlog

from bot.settings import Roles
from finops.errors import UserError

log = structlog.get_logger(__name__)

RANK = {"viewer": 1, "engineer": 2, "admin": 3}
ROLES = tuple(RANK)

# Permission -> the lowest role that has it. Every state-changing action names one here.
PERMISSIONS = {
    "cost.read": "viewer",
    "budget.read": "viewer",
    "budget.edit": "engineer",
    "budget.act": "engineer",
    "budget.approve": "admin",
    "anomaly.act": "engineer",
    "remediation.approve": "admin",
}
WHAT = {
    "cost.read": "see costs",
    "budget.read": "see budgets",
    "budget.edit": "create or change budgets",
    "budget.act": "act on budget alerts",
    "budget.approve": "approve budget increases",
    "anomaly.act": "act on anomalies",
    "remediation.approve": "approve remediation",
}
GROUPS_TTL = 300.0  # seconds a user group's members are cached
# Seconds a member lookup may take: a role check can run before a modal's ack (3 s in all), and a
# rate-limited lookup would otherwise wait out Slack's Retry-After. Too slow grants nothing.
GROUPS_TIMEOUT = 1.5


class PermissionDenied(UserError):
    """Someone tried something their role does not allow."""


def allows(role: str | None, permission: str) -> bool:
    return role is not None and RANK[role] >= RANK[PERMISSIONS[permission]]


def role_in_config(roles: Roles, user_id: str, groups: Iterable[str]) -> str | None:
    """The highest role `user_id` has directly or through one of `groups`; else the default."""
    ids = {user_id, *groups}
    for role in ("admin", "engineer", "viewer"):
        if ids & set(getattr(roles, role)):
            return role
    return None if roles.default == "none" else roles.default


GroupMembers = Callable[[str], Awaitable[list[str]]]


class RoleResolver:
    """Resolves a Slack user's role; user group members are looked up (and cached) only for the
    groups the config names."""

    def __init__(self, roles: Roles, members: GroupMembers | None) -> None:
        self.roles = roles
        self._members = members
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}

    def _configured_groups(self) -> list[str]:
        listed = [*self.roles.admin, *self.roles.engineer, *self.roles.viewer]
        return sorted({i for i in listed if i.startswith("S")})

    async def _group(self, group: str) -> frozenset[str]:
        cached = self._cache.get(group)
        if cached and time.monotonic() - cached[0] < GROUPS_TTL:
            return cached[1]
        if self._members is None:
            return frozenset()
        try:
            users = frozenset(await asyncio.wait_for(self._members(group), GROUPS_TIMEOUT))
        except Exception as exc:  # a group we cannot read grants nothing; say so in the log
            log.warning("cannot read user group members", group=group, error=str(exc))
            return cached[1] if cached else frozenset()
        self._cache[group] = (time.monotonic(), users)
        return users

    async def role_of(self, user_id: str) -> str | None:
        groups = [g for g in self._configured_groups() if user_id in await self._group(g)]
        return role_in_config(self.roles, user_id, groups)

    async def member(self, user_id: str, listed: Iterable[str]) -> bool:
        """Whether `user_id` is one of `listed` (Slack users, or user groups it belongs to)."""
        for who in listed:
            if who == user_id or (who.startswith("S") and user_id in await self._group(who)):
                return True
        return False

    async def require(self, user_id: str, permission: str, lowest: str | None = None) -> str:
        """The user's role, or `PermissionDenied` saying who may do it. `lowest` replaces the
        permission's lowest role when the config sets it (e.g. who approves remediation)."""
        role = await self.role_of(user_id)
        needed = lowest or PERMISSIONS[permission]
        if role is not None and RANK[role] >= RANK[needed]:
            return role
        allowed = [r + "s" for r in ROLES if RANK[r] >= RANK[needed]]
        who = allowed[0] if len(allowed) == 1 else f"{', '.join(allowed[:-1])} or {allowed[-1]}"
        yours = f"your role is {role}" if role else "you have no role in finops-bot"
        raise PermissionDenied(
            f"Only {who} can {WHAT[permission]}; {yours}. "
            "Ask an admin to add you (or your user group) under [roles] in the finops-bot config."
        )
