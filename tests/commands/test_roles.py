"""Roles from config and user groups; what each role may do."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.settings import Roles
from commands.roles import GROUPS_TIMEOUT, PERMISSIONS, PermissionDenied, RoleResolver, allows, role_in_config

ROLES = Roles(admin=["U1"], engineer=["S0ENG", "U2"], viewer=["U3"], default="none")


def test_highest_role_wins_and_the_default_applies_to_the_rest() -> None:
    assert role_in_config(ROLES, "U1", ["S0ENG"]) == "admin"
    assert role_in_config(ROLES, "U9", ["S0ENG"]) == "engineer"
    assert role_in_config(ROLES, "U3", []) == "viewer"
    assert role_in_config(ROLES, "U9", []) is None
    assert role_in_config(Roles(), "U9", []) == "viewer"


def test_each_permission_is_held_by_its_role_and_those_above() -> None:
    assert allows("viewer", "cost.read") and not allows("viewer", "budget.edit")
    assert allows("engineer", "budget.edit") and not allows("engineer", "remediation.approve")
    assert all(allows("admin", p) for p in PERMISSIONS) and not any(allows(None, p) for p in PERMISSIONS)


async def test_group_members_are_looked_up_once_and_a_failing_lookup_grants_nothing() -> None:
    asked: list[str] = []

    async def members(group: str) -> list[str]:
        asked.append(group)
        return ["U7"]

    resolver = RoleResolver(ROLES, members)
    assert await resolver.role_of("U7") == "engineer"
    assert await resolver.role_of("U8") is None
    assert asked == ["S0ENG"]  # cached

    async def broken(group: str) -> list[str]:
        raise ConnectionError("slack is down")

    assert await RoleResolver(ROLES, broken).role_of("U7") is None

    async def slow(group: str) -> list[str]:
        await asyncio.sleep(10)
        return ["U7"]

    started = time.monotonic()
    assert await RoleResolver(ROLES, slow).role_of("U7") is None  # fails closed, in time for an ack
    assert time.monotonic() - started < GROUPS_TIMEOUT + 0.5


async def test_require_explains_who_may() -> None:
    resolver = RoleResolver(ROLES, None)
    assert await resolver.require("U2", "budget.edit") == "engineer"
    with pytest.raises(
        PermissionDenied, match=r"^Only admins can approve remediation; your role is engineer\."
    ):
        await resolver.require("U2", "remediation.approve")


def test_role_ids_are_checked() -> None:
    with pytest.raises(ValueError, match="not Slack user"):
        Roles(admin=["alice"])
