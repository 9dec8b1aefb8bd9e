"""The fake Slack Web API, exercised through the real slack_sdk clients."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from tests.fakes.slack import FakeSlack, block_kit_problems, view_problems

TOKEN = "xoxb-test-token"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(bot_token=TOKEN) as server:
        yield server


def client(fake: FakeSlack, **kwargs: Any) -> AsyncWebClient:
    return AsyncWebClient(base_url=fake.api_url, token=TOKEN, **kwargs)


def section(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    return block | ({"block_id": block_id} if block_id else {})


def button(action_id: str, text: str = "Approve", value: str = "v") -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text},
        "value": value,
    }


async def test_auth_test_with_the_right_token(fake: FakeSlack) -> None:
    answer = await client(fake).auth_test()
    assert answer["user_id"] == "U0BOT"
    assert answer["bot_id"] == "B0BOT"
    assert answer["team_id"] == "T0001"
    assert fake.calls_to("auth.test")[0].headers["Authorization"] == f"Bearer {TOKEN}"


async def test_auth_test_with_a_wrong_token_is_invalid_auth(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as error:
        await AsyncWebClient(base_url=fake.api_url, token="xoxb-wrong").auth_test()
    assert error.value.response["error"] == "invalid_auth"
    assert fake.problems == []


def test_sync_client_sends_a_form_body(fake: FakeSlack) -> None:
    sync = WebClient(base_url=fake.api_url, token=TOKEN)
    answer = sync.api_call(
        "chat.postMessage", params={"channel": "C1", "blocks": json.dumps([section("hi")])}
    )
    assert answer["ok"]
    call = fake.calls_to("chat.postMessage")[0]
    assert call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert call.args["blocks"] == [section("hi")]
    assert sync.users_info(user="U1")["user"]["tz"] == "UTC"
    assert sync.conversations_info(channel="C1")["channel"]["id"] == "C1"
    uploaded = sync.files_upload_v2(content=b"a,b\n1,2\n", filename="costs.csv")
    assert fake.files[uploaded["file"]["id"]] == b"a,b\n1,2\n"
    assert fake.problems == []


async def test_post_message_records_and_decodes_json_blocks(fake: FakeSlack) -> None:
    web = client(fake)
    blocks = [section("*EC2* is up 40%", "b1"), {"type": "actions", "elements": [button("approve")]}]
    first = await web.chat_postMessage(channel="C1", text="EC2 anomaly", blocks=blocks)
    reply = await web.chat_postMessage(channel="C1", text="more", thread_ts=first["ts"])
    assert first["channel"] == "C1"
    assert first["message"]["blocks"] == blocks
    assert first["ts"] == "1700000000.000100"
    assert reply["ts"] > first["ts"]
    call = fake.calls_to("chat.postMessage")[0]
    assert call.args["blocks"] == blocks
    assert call.path == "/api/chat.postMessage"
    assert fake.messages[("C1", reply["ts"])]["thread_ts"] == first["ts"]
    assert fake.problems == []


async def test_update_keeps_the_thread_and_unknown_messages_are_not_found(fake: FakeSlack) -> None:
    web = client(fake)
    root = await web.chat_postMessage(channel="C1", text="root")
    reply = await web.chat_postMessage(channel="C1", text="reply", thread_ts=root["ts"])
    await web.chat_update(channel="C1", ts=reply["ts"], text="edited", blocks=[section("edited", "b2")])
    assert fake.messages[("C1", reply["ts"])]["text"] == "edited"
    assert fake.messages[("C1", reply["ts"])]["thread_ts"] == root["ts"]
    with pytest.raises(SlackApiError) as error:
        await web.chat_update(channel="C1", ts="1.000000", text="x")
    assert error.value.response["error"] == "message_not_found"
    await web.chat_delete(channel="C1", ts=root["ts"])
    assert ("C1", root["ts"]) not in fake.messages
    assert (await web.chat_postEphemeral(channel="C1", user="U1", text="only you"))["message_ts"]
    assert fake.problems == []


async def test_fifty_one_blocks_is_a_problem_and_fails(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as error:
        await client(fake).chat_postMessage(channel="C1", text="t", blocks=[{"type": "divider"}] * 51)
    assert error.value.response["ok"] is False
    assert fake.problems == ["chat.postMessage: 51 blocks, limit 50 for a message"]


async def test_a_3001_character_section_is_a_problem_and_fails(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError):
        await client(fake).chat_postMessage(channel="C1", text="t", blocks=[section("x" * 3001)])
    assert len(fake.problems) == 1
    assert "blocks[0] (section).text.text: 3001 characters, limit 3000" in fake.problems[0]


async def test_post_without_channel_or_text_is_a_problem(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError):
        await client(fake).api_call("chat.postMessage", json={"channel": ""})
    assert fake.problems == [
        "chat.postMessage: channel is required",
        "chat.postMessage: one of text / blocks / attachments is required",
    ]


async def test_unknown_method_is_a_problem(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as error:
        await client(fake).api_call("reactions.add", json={"name": "eyes"})
    assert error.value.response["error"] == "unknown_method"
    assert fake.problems == ["reactions.add: not served by the fake"]


async def test_rate_limit_is_retried_by_the_rate_limit_handler(fake: FakeSlack) -> None:
    fake.rate_limit("chat.postMessage", retry_after=0)
    web = client(fake, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)])
    answer = await web.chat_postMessage(channel="C1", text="hi")
    assert answer["ok"]
    assert [c.args["text"] for c in fake.calls_to("chat.postMessage")] == ["hi", "hi"]


async def test_rate_limit_without_a_handler_raises_429(fake: FakeSlack) -> None:
    fake.rate_limit("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as error:
        await client(fake).chat_postMessage(channel="C1", text="hi")
    assert error.value.response.status_code == 429
    assert error.value.response.headers["Retry-After"] == "7"
    assert error.value.response["error"] == "ratelimited"


async def test_server_error_is_retried_by_the_server_error_handler(fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", status=500)
    web = client(fake, retry_handlers=[AsyncServerErrorRetryHandler(max_retry_count=1)])
    assert (await web.chat_postMessage(channel="C1", text="hi"))["ok"]
    fake.fail("chat.postMessage", status=503, error="service_unavailable")
    with pytest.raises(SlackApiError) as error:
        await client(fake).chat_postMessage(channel="C1", text="hi")
    assert error.value.response.status_code == 503
    assert len(fake.calls_to("chat.postMessage")) == 3


async def test_files_upload_v2_goes_through_all_three_steps(fake: FakeSlack) -> None:
    png = b"\x89PNG\r\n\x1a\n fake chart bytes"
    answer = await client(fake).files_upload_v2(content=png, filename="c.png", channel="C1", title="Chart")
    assert [c.method for c in fake.calls] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    file_id = answer["file"]["id"]
    assert file_id.startswith("F")
    assert fake.files[file_id] == png
    assert answer["file"]["mimetype"] == "image/png"
    assert answer["file"]["title"] == "Chart"
    assert fake.calls_to("files.completeUploadExternal")[0].args["files"] == [
        {"id": file_id, "title": "Chart"}
    ]
    assert fake.problems == []


async def test_upload_of_the_wrong_length_and_completing_unknown_files_are_problems(fake: FakeSlack) -> None:
    web = client(fake)
    url = await web.files_getUploadURLExternal(filename="a.csv", length=10)
    async with aiohttp.ClientSession() as session, session.post(url["upload_url"], data=b"short") as answer:
        assert answer.status == 400
    with pytest.raises(SlackApiError):
        await web.files_completeUploadExternal(files=[{"id": url["file_id"], "title": "a"}])
    assert len(fake.problems) == 2
    assert fake.problems[0].startswith(f"upload: {url['file_id']}: got 5 bytes")
    assert "was never uploaded" in fake.problems[1]


async def test_response_url_posts_are_recorded_and_checked(fake: FakeSlack) -> None:
    answer = await AsyncWebhookClient(fake.response_url()).send(text="done", blocks=[section("done")])
    assert answer.status_code == 200
    bad = await AsyncWebhookClient(fake.response_url("other")).send(text="x", blocks=[{"type": "nope"}])
    assert bad.status_code == 400
    assert [c.args["text"] for c in fake.responses()] == ["done", "x"]
    assert fake.responses("r")[0].args["blocks"] == [section("done")]
    assert fake.problems == ["response_url: blocks[0]: unknown block type 'nope'"]


async def test_views_publish_keeps_the_view_and_checks_it(fake: FakeSlack) -> None:
    web = client(fake)
    home = {"type": "home", "blocks": [section("Spend this month")]}
    answer = await web.views_publish(user_id="U1", view=home)
    assert answer["view"]["id"].startswith("V")
    assert fake.published["U1"] == home
    with pytest.raises(SlackApiError):
        await web.views_publish(user_id="U1", view={"type": "home", "blocks": [{"type": "divider"}] * 101})
    assert fake.problems == ["views.publish: view.101 blocks, limit 100 for a home"]
    assert fake.published["U1"] == home


async def test_views_open_and_update_check_the_modal(fake: FakeSlack) -> None:
    web = client(fake)
    modal = {
        "type": "modal",
        "callback_id": "snooze",
        "title": {"type": "plain_text", "text": "Snooze anomaly"},
        "submit": {"type": "plain_text", "text": "Snooze"},
        "blocks": [
            {
                "type": "input",
                "label": {"type": "plain_text", "text": "For"},
                "element": {
                    "type": "static_select",
                    "action_id": "for",
                    "options": [{"text": {"type": "plain_text", "text": "1 day"}, "value": "1d"}],
                },
            }
        ],
    }
    assert (await web.views_open(trigger_id="t1", view=modal))["view"]["callback_id"] == "snooze"
    assert (await web.views_update(view_id="V1", view=modal))["ok"]
    with pytest.raises(SlackApiError):
        await web.views_open(
            trigger_id="t1", view=modal | {"title": {"type": "plain_text", "text": "x" * 25}}
        )
    assert fake.problems == ["views.open: view.title.text: 25 characters, limit 24"]


async def test_usergroups_users_list(fake: FakeSlack) -> None:
    fake.usergroups["S1"] = ["U1", "U2"]
    web = client(fake)
    assert (await web.usergroups_users_list(usergroup="S1"))["users"] == ["U1", "U2"]
    with pytest.raises(SlackApiError) as error:
        await web.usergroups_users_list(usergroup="S404")
    assert error.value.response["error"] == "no_such_subteam"
    assert fake.problems == []


async def test_wait_for_returns_the_calls_or_times_out_clearly(fake: FakeSlack) -> None:
    await client(fake).auth_test()
    assert len(await fake.wait_for("auth.test")) == 1
    with pytest.raises(
        AssertionError,
        match=r"waited 0.1s for 1 call\(s\) to chat.postMessage, saw 0; calls: \['auth.test'\]",
    ):
        await fake.wait_for("chat.postMessage", timeout=0.1)
    fake.reset()
    assert fake.calls == []


def test_a_valid_message_has_no_problems() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Cost anomaly"}},
        {
            **section("*EC2*", "s1"),
            "fields": [{"type": "mrkdwn", "text": "$1,200"}],
            "accessory": button("more"),
        },
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": "FOCUS"},
                {"type": "image", "image_url": "https://x/i.png", "alt_text": "i"},
            ],
        },
        {
            "type": "actions",
            "block_id": "a1",
            "elements": [button("approve"), button("reject") | {"url": "https://x"}],
        },
        {"type": "image", "slack_file": {"id": "F1"}, "alt_text": "chart"},
        {"type": "divider"},
    ]
    assert block_kit_problems(blocks) == []


@pytest.mark.parametrize(
    ("block", "problem"),
    [
        ({"type": "banner"}, "blocks[0]: unknown block type 'banner'"),
        (
            {"type": "section", "block_id": "b" * 256, "text": {"type": "mrkdwn", "text": "x"}},
            "block_id: 256 characters, limit 255",
        ),
        ({"type": "section"}, "a section needs text or fields"),
        ({"type": "section", "text": {"type": "markdown", "text": "x"}}, "type must be plain_text or mrkdwn"),
        ({"type": "section", "text": {"type": "mrkdwn", "text": ""}}, "text must be a non-empty string"),
        (
            {"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11},
            "fields: at most 10 text objects",
        ),
        (
            {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]},
            "fields[0].text: 2001 characters, limit 2000",
        ),
        ({"type": "header", "text": {"type": "mrkdwn", "text": "h"}}, "type must be plain_text"),
        (
            {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}},
            "text.text: 151 characters, limit 150",
        ),
        (
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11},
            "a list of 1 to 10 elements",
        ),
        ({"type": "actions", "elements": []}, "a list of 1 to 25 elements"),
        ({"type": "actions", "elements": [button("a" * 256)]}, "action_id: 256 characters, limit 255"),
        ({"type": "actions", "elements": [button("a"), button("a")]}, "duplicate action_id 'a'"),
        ({"type": "actions", "elements": [button("a", text="t" * 76)]}, "text.text: 76 characters, limit 75"),
        (
            {"type": "actions", "elements": [button("a", value="v" * 2001)]},
            "value: 2001 characters, limit 2000",
        ),
        (
            {"type": "actions", "elements": [button("a") | {"url": "u" * 3001}]},
            "url: 3001 characters, limit 3000",
        ),
        ({"type": "image", "image_url": "https://x/i.png"}, "alt_text is required"),
        (
            {"type": "image", "image_url": "u", "slack_file": {"id": "F1"}, "alt_text": "a"},
            "exactly one of image_url / slack_file",
        ),
        (
            {
                "type": "input",
                "label": {"type": "plain_text", "text": "l"},
                "element": {"type": "plain_text_input"},
            },
            "only allowed in modals",
        ),
        (
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "static_select",
                        "action_id": "s",
                        "options": [{"text": {"type": "plain_text", "text": "o"}, "value": "v"}] * 101,
                    }
                ],
            },
            "101 options, limit 100",
        ),
        (
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "overflow",
                        "action_id": "o",
                        "options": [{"text": {"type": "plain_text", "text": "o" * 76}, "value": "v"}],
                    }
                ],
            },
            "options[0].text.text: 76 characters",
        ),
        (
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "overflow",
                        "action_id": "o",
                        "options": [{"text": {"type": "plain_text", "text": "o"}, "value": "v" * 151}],
                    }
                ],
            },
            "options[0].value: 151 characters, limit 150",
        ),
    ],
)
def test_block_kit_problems(block: dict[str, Any], problem: str) -> None:
    problems = block_kit_problems([block])
    assert len(problems) == 1, problems
    assert problem in problems[0]


def test_block_kit_problems_on_the_list_itself() -> None:
    assert block_kit_problems({"type": "section"}) == ["blocks must be a list, got dict"]
    assert block_kit_problems([section("a", "same"), section("b", "same")]) == [
        "blocks[1] (section): duplicate block_id 'same'"
    ]
    assert block_kit_problems([{"type": "divider"}] * 100, surface="modal") == []


def test_view_problems() -> None:
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Budget"}, "blocks": []}
    assert view_problems(modal) == []
    assert view_problems({"type": "message"})[0].startswith("view: an object of type modal or home")
    assert view_problems({**modal, "title": None}) == ["view.title: a text object is required, got None"]
    assert view_problems({**modal, "close": {"type": "plain_text", "text": "c" * 25}}) == [
        "view.close.text: 25 characters, limit 24"
    ]
    assert view_problems({**modal, "callback_id": "c" * 256}) == [
        "view.callback_id: 256 characters, limit 255"
    ]
    assert view_problems({**modal, "private_metadata": "m" * 3001}) == [
        "view.private_metadata: 3001 characters, limit 3000"
    ]
    with_input = {
        **modal,
        "blocks": [
            {
                "type": "input",
                "label": {"type": "plain_text", "text": "l"},
                "element": {"type": "plain_text_input", "action_id": "a"},
            }
        ],
    }
    assert view_problems(with_input) == ["view.submit: is required when the modal has input blocks"]
    big = {"type": "home", "blocks": [section("x" * 2900) for _ in range(90)]}
    assert view_problems(big) == [f"view: {len(json.dumps(big).encode())} bytes of JSON, limit 250000"]
