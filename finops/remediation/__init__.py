"""Remediation playbooks: savings opportunities turned into dry-run change plans.

`PLAYBOOKS` is the registry (name -> playbook); `get(name)` says which names exist when one is
unknown. The playbooks only read AWS; calls are made by `operations` once a plan is approved.
"""

from __future__ import annotations

from finops.errors import UserError
from finops.remediation.base import Playbook

PLAYBOOKS: dict[str, Playbook] = {}


def register(playbook: Playbook) -> Playbook:
    PLAYBOOKS[playbook.name] = playbook
    return playbook


def get(name: str) -> Playbook:
    try:
        return PLAYBOOKS[name]
    except KeyError:
        raise UserError(
            f"Unknown playbook {name!r}; the playbooks are: {', '.join(sorted(PLAYBOOKS))}."
        ) from None


# Last: the playbook modules register themselves, and need `register` above.
from finops.remediation import playbooks as playbooks  # noqa: E402
