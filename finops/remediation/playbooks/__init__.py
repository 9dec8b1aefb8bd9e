"""The shipped playbooks, one module each; importing this package registers them."""

from __future__ import annotations

from finops.remediation.playbooks import (
    idle_instances,
    idle_load_balancers,
    old_snapshots,
    unassociated_eips,
    unattached_volumes,
)

__all__ = [
    "idle_instances",
    "idle_load_balancers",
    "old_snapshots",
    "unassociated_eips",
    "unattached_volumes",
]
