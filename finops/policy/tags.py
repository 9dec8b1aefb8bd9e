"""Tag rules: which tags each resource created or updated by a plan must carry, and their values."""

from __future__ import annotations

from fnmatch import fnmatchcase

from finops.policy.findings import Finding
from finops.policy.plan import Change, Tags
from finops.policy.spec import TagPolicy


def exempt(change: Change, policy: TagPolicy) -> bool:
    """Exempt by address pattern, matched with and without instance keys (`module.legacy[0]…`)."""
    return any(
        fnmatchcase(change.address, pattern) or fnmatchcase(change.config_address, pattern)
        for pattern in policy.exempt
    )


def in_scope(change: Change, policy: TagPolicy) -> bool:
    """Created or updated, of a type the policy covers (default: every type that carries tags)."""
    if not change.checked or change.tags is None:
        return False
    return not policy.resources or any(fnmatchcase(change.type, pattern) for pattern in policy.resources)


def check(change: Change, policy: TagPolicy) -> list[Finding]:
    """The findings of one resource change (none when it is out of scope or exempt)."""
    if not in_scope(change, policy) or exempt(change, policy) or change.tags is None:
        return []
    tags = change.tags
    insensitive = policy.case.keys == "insensitive"
    found: list[Finding] = []
    missing, misspelt, empty, unsure = [], [], [], []
    for key in policy.keys_for(change.type):
        if tags.has(key, insensitive):
            continue
        spelt = next((k for k in (*tags.known, *tags.pending) if k.lower() == key.lower()), None)
        if spelt is not None and spelt != key and not insensitive:
            misspelt.append(f"`{spelt}` should be `{key}`")
        elif spelt is not None:
            empty.append(key)
        elif not tags.complete:
            unsure.append(key)
        else:
            missing.append(key)
    if missing or empty:
        parts = []
        if missing:
            parts.append(f"missing required tag{_s(missing)} {_names(missing)}")
        if empty:
            parts.append(f"empty tag{_s(empty)} {_names(empty)}")
        found.append(_finding(change, "tags.required", "Missing required tags", "; ".join(parts), tags))
    if misspelt:
        text = "tag keys are case-sensitive: " + ", ".join(misspelt)
        found.append(_finding(change, "tags.case", "Tag key case", text, tags))
    if unsure:
        severity = "error" if policy.unknown == "fail" else "warning"
        text = (
            f"cannot tell before apply whether it will carry {_names(unsure)}: "
            f"its tags are known only after apply ({tags.source})"
        )
        found.append(_finding(change, "tags.unknown", "Tags unknown until apply", text, tags, severity))
    found += _values(change, policy, tags, insensitive)
    return found


def _values(change: Change, policy: TagPolicy, tags: Tags, insensitive: bool) -> list[Finding]:
    """Allowed values (lists or patterns) and the case rule for values."""
    bad: list[str] = []
    for rule_key in policy.allowed:
        key = tags.has(rule_key, insensitive)
        if key is None or key in tags.pending:
            continue
        value = tags.known[key]
        if not policy.allows(rule_key, value):
            rule = policy.allowed[rule_key]
            accepted = f"matching `{rule}`" if isinstance(rule, str) else ", ".join(rule)
            near = [] if isinstance(rule, str) else [v for v in rule if v.lower() == value.lower()]
            hint = f" (did you mean `{near[0]}`?)" if near else ""
            bad.append(f"{key}=`{tags.shown(key)}` is not allowed{hint}; allowed: {accepted}")
    if policy.case.values != "any":
        wanted = policy.case.values
        keys = [*policy.keys_for(change.type), *policy.allowed]
        for rule_key in dict.fromkeys(keys):
            key = tags.has(rule_key, insensitive)
            if key is None or key in tags.pending:
                continue
            value = tags.known[key]
            if value != (value.lower() if wanted == "lower" else value.upper()):
                bad.append(f"{key}=`{tags.shown(key)}` must be {wanted} case")
    if not bad:
        return []
    return [_finding(change, "tags.allowed", "Tag value not allowed", "; ".join(bad), tags)]


def _finding(
    change: Change, rule: str, title: str, text: str, tags: Tags, severity: str = "error"
) -> Finding:
    carried = ", ".join(sorted(tags.known)) or "none"
    return Finding(
        rule=rule,
        severity=severity,
        title=title,
        message=f"{change.address} ({change.action}): {text} [tags from {tags.source}: {carried}]",
        plan=change.plan,
        address=change.address,
    )


def _names(keys: list[str]) -> str:
    return ", ".join(f"`{key}`" for key in keys)


def _s(items: list[str]) -> str:
    return "s" if len(items) > 1 else ""
