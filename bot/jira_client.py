"""Jira: the client, the outbox senders that open (or reopen) the one issue of an anomaly and
comment on it, and the start-up check of the configuration.

The `jira` library is synchronous: every call runs in a thread. It is built with
`max_retries=0`: the outbox retries (with backoff, surviving restarts), not the library.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from jira import JIRA, JIRAError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.metrics import JIRA_CALL_ERRORS, JIRA_CALL_SECONDS
from bot.settings import Settings
from commands import alerts
from commands.messages import amount
from jobs.outbox import Permanent, Sender
from storage import anomalies, jira_links, outbox
from storage.models import JiraLink, OutboxItem
from templates import render_text

log = structlog.get_logger(__name__)
RETRYABLE = {408, 409, 423, 425, 429, 500, 502, 503, 504}


def connect(settings: Settings) -> JIRA:
    """A client for JIRA_URL: email + API token (Cloud) or a personal access token (Data Center)."""
    settings.require("jira_url", "jira_api_token")
    token = settings.secret("jira_api_token")
    auth: dict[str, Any] = (
        {"basic_auth": (settings.jira_user, token)} if settings.jira_user else {"token_auth": token}
    )
    return JIRA(server=settings.jira_url, max_retries=0, timeout=15, **auth)


def checks(settings: Settings) -> list[tuple[str, bool, str]]:
    """(what, ok, detail) for the server, each project, issue type, priority and component used."""
    try:
        server = connect(settings)
    except JIRAError as exc:
        return [("connect", False, f"{settings.jira_url}: {message(exc)}")]
    except Exception as exc:  # unreachable server, bad URL
        return [("connect", False, f"{settings.jira_url}: {exc}")]
    found: list[tuple[str, bool, str]] = [("connect", True, str(settings.jira_url))]
    config = settings.jira
    routes = {None: (settings.jira_project, None)} | {
        team: (route.project or settings.jira_project, route.component)
        for team, route in config.teams.items()
    }
    priorities = {p.name for p in server.priorities()}
    for name in sorted(set(config.priorities.values())):
        found.append(
            (
                f"priority {name}",
                name in priorities,
                ""
                if name in priorities
                else f"not a Jira priority; there are: {', '.join(sorted(priorities))}",
            )
        )
    for team, (project, component) in routes.items():
        where = f" (team {team})" if team else ""
        if not project:
            found.append((f"project{where}", False, "not set: set JIRA_PROJECT or [jira.teams] project"))
            continue
        try:
            meta = server.project(project)
        except JIRAError as exc:
            found.append((f"project {project}{where}", False, message(exc)))
            continue
        found.append((f"project {project}{where}", True, meta.name))
        types = {t.name for t in server.issue_types_for_project(project)}
        ok = config.issue_type in types
        found.append(
            (
                f"issue type {config.issue_type} in {project}",
                ok,
                "" if ok else f"the project has: {', '.join(sorted(types))}",
            )
        )
        if component:
            names = {c.name for c in meta.components}
            ok = component in names
            found.append(
                (
                    f"component {component} in {project}",
                    ok,
                    "" if ok else f"the project has: {', '.join(sorted(names)) or 'none'}",
                )
            )
    return found


def message(exc: JIRAError) -> str:
    """Jira's own words for a refused request."""
    try:
        body = exc.response.json() if exc.response is not None else {}
    except ValueError:
        body = {}
    parts = list(body.get("errorMessages") or []) + [
        f"{k}: {v}" for k, v in (body.get("errors") or {}).items()
    ]
    return "; ".join(parts) or str(exc.text or exc)[:500]


def label(fingerprint: str) -> str:
    return f"finops-{fingerprint}"


def _done(issue: Any) -> bool:
    return str(issue.fields.status.statusCategory.key) == "done"


def issue_fields(settings: Settings, anomaly: Any, thread: str | None) -> dict[str, Any]:
    """The fields of the Jira issue an anomaly opens (project and component from its team's
    route, priority from its severity); `thread` is the Slack thread's link, if posted. Needs
    no connection: the demo shows what would be created with it."""
    config = settings.jira
    route = config.teams.get(str(anomaly.scope.get("team")))
    project = (route.project if route else None) or settings.jira_project
    if not project:
        raise Permanent("no Jira project: set JIRA_PROJECT (or a project per team under [jira.teams])")
    last = anomaly.last_date or anomaly.usage_date
    description = render_text(
        "jira/anomaly.txt.j2",
        headline=alerts.headline(anomaly),
        scope=alerts.scope_text(anomaly.scope),
        change=alerts.change_text(anomaly),
        impact=f"+{amount(anomaly.impact, anomaly.currency)} on {last}",
        period=f"{anomaly.usage_date} to {last}",
        severity=f"{anomaly.severity} ({anomaly.confidence} confidence)",
        causes=[line.removeprefix("• ") for line in alerts.cause_lines(anomaly)],
        thread=thread,
        fingerprint=anomaly.fingerprint,
    )
    fields: dict[str, Any] = {
        "project": {"key": project},
        "issuetype": {"name": config.issue_type},
        "summary": alerts.headline(anomaly)[:250],
        "description": description,
        "labels": ["finops", label(anomaly.fingerprint)],
    }
    if anomaly.severity in config.priorities:
        fields["priority"] = {"name": config.priorities[anomaly.severity]}
    if route and route.component:
        fields["components"] = [{"name": route.component}]
    return fields


class JiraFollowUp:
    """The outbox senders `jira.create` and `jira.comment`."""

    def __init__(
        self,
        settings: Settings,
        factory: Callable[[Settings], JIRA] = connect,
        permalink: Callable[[str, str], Awaitable[str | None]] | None = None,
    ) -> None:
        self.settings = settings
        self._factory = factory
        self._permalink = permalink  # the Slack thread's link, for the description
        self._client: JIRA | None = None

    def senders(self) -> dict[str, Sender]:
        return {"jira.create": self.create, "jira.comment": self.comment}

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """`method` of the jira client, in a thread (connecting first if need be, as "connect").
        Each is timed into JIRA_CALL_SECONDS; failures are counted in JIRA_CALL_ERRORS by HTTP
        status (or exception type)."""
        step = "connect"
        try:
            if self._client is None:
                with JIRA_CALL_SECONDS.labels(step).time():
                    self._client = await asyncio.to_thread(self._factory, self.settings)
            step = method
            with JIRA_CALL_SECONDS.labels(step).time():
                return await asyncio.to_thread(getattr(self._client, method), *args, **kwargs)
        except JIRAError as exc:
            JIRA_CALL_ERRORS.labels(step, str(exc.status_code or type(exc).__name__)).inc()
            if exc.status_code is not None and exc.status_code not in RETRYABLE:
                raise Permanent(f"Jira refused {method} ({exc.status_code}): {message(exc)}") from exc
            raise
        except Exception as exc:  # unreachable, timed out
            JIRA_CALL_ERRORS.labels(step, type(exc).__name__).inc()
            raise

    async def create(self, session: AsyncSession, payload: dict[str, Any]) -> dict[str, Any]:
        fingerprint = payload["fingerprint"]
        anomaly = await anomalies.get(session, fingerprint)
        if anomaly is None:
            raise Permanent(f"no anomaly {fingerprint}")
        linked = await jira_links.find(session, fingerprint)
        if linked is not None:
            return {"key": linked.issue_key, "how": "linked before"}
        thread = None
        if self._permalink is not None and anomaly.slack_channel and anomaly.slack_ts:
            thread = await self._permalink(anomaly.slack_channel, anomaly.slack_ts)
        # Never a second issue: one carrying this fingerprint's label is reused (an open one is
        # linked, a recently closed one reopened); only an old closed one gets a successor.
        jql = f'labels = "{label(fingerprint)}" ORDER BY created DESC'
        found = await self._call("search_issues", jql, maxResults=1, fields="status,resolutiondate")
        issue, how = (found[0], "linked") if found else (None, "created")
        seen_again = f"Seen again by finops-bot: {alerts.still_anomalous(anomaly)}"
        if issue is not None and _done(issue):
            if self._recent(issue.fields.resolutiondate):
                await self._reopen(issue.key)
                how = "reopened"
            else:
                issue, how = None, "created"
        if issue is None:
            issue = await self._call("create_issue", fields=issue_fields(self.settings, anomaly, thread))
        else:
            await self._call("add_comment", issue.key, seen_again)
        url = f"{str(self.settings.jira_url).rstrip('/')}/browse/{issue.key}"
        session.add(JiraLink(fingerprint=fingerprint, issue_key=issue.key, issue_url=url, status="new"))
        await session.flush()
        text = f"Jira issue <{url}|{issue.key}> {how}."
        await alerts.tell(session, fingerprint, f"jira:{issue.key}", text)
        return {"key": issue.key, "how": how}

    def _recent(self, resolved: str | None) -> bool:
        if not resolved:
            return False
        at = datetime.strptime(resolved[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
        return datetime.now(UTC) - at <= timedelta(days=self.settings.jira.reopen_within_days)

    async def _reopen(self, key: str) -> None:
        transitions = await self._call("transitions", key)
        reopen = next(
            (t for t in transitions if t.get("to", {}).get("statusCategory", {}).get("key") != "done"), None
        )
        if reopen is None:
            raise Permanent(f"{key} is closed and Jira offers no transition to reopen it")
        await self._call("transition_issue", key, reopen["id"])

    async def comment(self, session: AsyncSession, payload: dict[str, Any]) -> dict[str, Any]:
        fingerprint = payload["fingerprint"]
        linked = await jira_links.find(session, fingerprint)
        if linked is None:
            if await outbox.exists(session, alerts.jira_key(fingerprint)):
                raise RuntimeError("its Jira issue is not created yet")  # retried after it
            return {"skipped": "no Jira issue"}
        await self._call("add_comment", linked.issue_key, payload["text"])
        return {"key": linked.issue_key}


def on_failure(settings: Settings) -> Callable[[AsyncSession, OutboxItem], Any]:
    """Jira failures reach people: one refused for good is said once in the anomaly's thread
    (with Jira's words); one still failing after `tell_admins_after` attempts is told to the
    admin channel, once."""

    async def tell(session: AsyncSession, item: OutboxItem) -> None:
        if not item.kind.startswith("jira."):
            return
        fingerprint = item.payload.get("fingerprint", "")
        if item.status == "failed" and fingerprint:
            text = (
                f"Could not open the Jira issue: {item.last_error}. "
                "An admin can check the settings with `finops-bot jira check`."
            )
            await alerts.tell(session, fingerprint, f"jira-failed:{item.id}", text, update=False)
        admin = settings.channels.admin or settings.alert_channel or settings.channels.alerts
        if admin and (item.status == "failed" or item.attempts == settings.jira.tell_admins_after):
            what = f"Jira {item.kind} for `{fingerprint[:12]}`"
            text = f":warning: {what} failed {item.attempts} time(s): {item.last_error}"
            await outbox.enqueue(
                session,
                f"slack-admin:{item.idempotency_key}:{item.status}",
                "slack.post",
                {"channel": admin, "text": text[:3000]},
            )

    return tell


def searcher(settings: Settings) -> Callable[[str], Awaitable[list[Any]]]:
    """JQL search for jira-sync: connects on first use (in a thread, like every Jira call)."""
    server: list[JIRA] = []

    async def search(jql: str) -> list[Any]:
        if not server:
            server.append(await asyncio.to_thread(connect, settings))
        found: list[Any] = await asyncio.to_thread(
            server[0].search_issues, jql, maxResults=50, fields="status,resolution"
        )
        return found

    return search
