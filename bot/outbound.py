"""The outbox's senders for this deployment: Slack always, Jira when JIRA_URL is set."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot import jira_client
from bot.notify import SlackNotifier
from bot.settings import Settings
from jobs.outbox import OnFailure, Sender


def outbound(settings: Settings, client: AsyncWebClient) -> tuple[dict[str, Sender], OnFailure]:
    slack = SlackNotifier(client)
    senders = slack.senders()
    if settings.jira_url:
        senders |= jira_client.JiraFollowUp(settings, permalink=slack.permalink).senders()
    return senders, jira_client.on_failure(settings)
