"""The fake Jira REST API, exercised through the real `jira` client (jira 3.x)."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from jira import JIRA, JIRAError

from tests.fakes.jira import FakeJira, jira_time, parse_jql

USER, TOKEN = "bot@example.com", "jira-token"
ISSUE = {"project": {"key": "FIN"}, "issuetype": {"name": "Task"}, "summary": "EC2 spend up 40%"}


@pytest.fixture
def fake() -> Iterator[FakeJira]:
    with FakeJira(user=USER, token=TOKEN) as server:
        yield server
        assert server.problems == []  # tests that expect problems check and clear them


@pytest.fixture
def server_fake() -> Iterator[FakeJira]:
    with FakeJira(user=USER, token=TOKEN, deployment="Server") as server:
        yield server
        assert server.problems == []


def connect(fake: FakeJira, **kwargs: Any) -> JIRA:
    """How the app connects: its own outbox retries, so the client must not (max_retries=0)."""
    if fake.deployment == "Server":
        return JIRA(server=fake.url, token_auth=TOKEN, **{"max_retries": 0, **kwargs})
    return JIRA(server=fake.url, basic_auth=(USER, TOKEN), **{"max_retries": 0, **kwargs})


def create(jira: JIRA, **fields: Any) -> Any:
    return jira.create_issue(fields={**ISSUE, **fields})


# --- connecting ----------------------------------------------------------------------------------


def test_connect_reads_server_info_with_basic_auth(fake: FakeJira) -> None:
    jira = connect(fake)

    assert jira.server_info()["deploymentType"] == "Cloud"
    assert jira.myself()["emailAddress"] == USER
    first = fake.calls_to("GET", "/rest/api/2/serverInfo")[0]
    assert first.headers["Authorization"] == "Basic " + base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()


def test_token_auth_on_a_server_deployment_sends_a_bearer_token(server_fake: FakeJira) -> None:
    jira = connect(server_fake)

    assert jira.server_info()["deploymentType"] == "Server"
    assert jira.myself()["name"] == USER
    assert server_fake.calls[0].headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("auth", [{"basic_auth": (USER, "wrong")}, {"token_auth": "wrong"}, {}])
def test_bad_or_missing_credentials_answer_401_and_are_not_problems(
    fake: FakeJira, auth: dict[str, Any]
) -> None:
    with pytest.raises(JIRAError) as caught:
        JIRA(server=fake.url, max_retries=0, **auth)

    assert caught.value.status_code == 401
    assert "You are not authenticated" in caught.value.text


def test_metadata_endpoints(fake: FakeJira) -> None:
    jira = connect(fake)

    project = jira.project("FIN")
    assert (project.key, project.name, project.id) == ("FIN", "FinOps", "10000")
    assert [c.name for c in project.components] == ["payments", "platform"]
    assert [t.name for t in project.issueTypes] == ["Task", "Bug"]
    assert [p.key for p in jira.projects()] == ["FIN"]
    assert [p.name for p in jira.priorities()] == ["Highest", "High", "Medium", "Low", "Lowest"]
    assert {t.name for t in jira.issue_types()} == {"Task", "Bug"}
    assert [t.name for t in jira.issue_types_for_project("FIN")] == ["Task", "Bug"]
    assert {f["id"] for f in jira.fields()} >= {"summary", "labels", "priority", "components", "status"}
    assert "Done" in [r.name for r in jira.resolutions()]


def test_unknown_project_is_a_404_with_jiras_message(fake: FakeJira) -> None:
    jira = connect(fake)

    with pytest.raises(JIRAError) as caught:
        jira.project("NOPE")

    assert caught.value.status_code == 404
    assert "No project could be found with key 'NOPE'." in caught.value.text


def test_project_issue_types_uses_createmeta_on_a_server(server_fake: FakeJira) -> None:
    jira = connect(server_fake)

    assert [t.name for t in jira.project_issue_types("FIN")] == ["Task", "Bug"]
    assert server_fake.calls_to("GET", "issue/createmeta/FIN/issuetypes")


# --- issues --------------------------------------------------------------------------------------


def test_create_an_issue_and_read_it_back(fake: FakeJira) -> None:
    jira = connect(fake)

    issue = create(
        jira,
        description="Spend rose from $100 to $140.",
        labels=["finops", "finops-anomaly-abc123"],
        priority={"name": "High"},
        components=[{"name": "payments"}],
    )

    assert issue.key == "FIN-1"
    assert issue.fields.summary == "EC2 spend up 40%"
    assert issue.fields.labels == ["finops", "finops-anomaly-abc123"]
    assert issue.fields.priority.name == "High"
    assert [c.name for c in issue.fields.components] == ["payments"]
    assert issue.fields.status.name == "To Do"
    assert issue.fields.status.statusCategory.key == "new"
    assert issue.fields.resolution is None
    assert jira.issue(issue.id).key == "FIN-1"  # by id too
    stored = fake.issues["FIN-1"]
    assert stored.fields["description"] == "Spend rose from $100 to $140."
    assert fake.calls_to("POST", "/rest/api/2/issue")[0].body["fields"]["labels"][0] == "finops"
    assert create(jira).key == "FIN-2"
    assert create(jira).fields.priority.name == "Medium"  # Jira's default


def test_create_with_plain_names_lets_the_client_look_up_ids(fake: FakeJira) -> None:
    """`project="FIN", issuetype="Bug"` (strings) make the client fetch the project and send ids."""
    jira = connect(fake)

    issue = jira.create_issue(project="FIN", issuetype="Bug", summary="Untagged spend")

    assert issue.fields.issuetype.name == "Bug"
    assert fake.calls_to("POST", "issue")[0].body["fields"]["project"] == {"id": "10000"}


def test_a_string_issuetype_unknown_to_the_project_fails_in_the_client(fake: FakeJira) -> None:
    jira = connect(fake)

    with pytest.raises(KeyError, match="Issue type 'Story' is unknown"):
        jira.create_issue(project="FIN", issuetype="Story", summary="x")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"project": {"key": "NOPE"}}, "Specify a valid project ID or key"),
        ({"issuetype": {"name": "Story"}}, "The issue type selected is invalid."),
        ({"priority": {"name": "Urgent"}}, "The priority selected is invalid."),
        ({"components": [{"name": "billing"}]}, "Component name 'billing' is not valid"),
    ],
)
def test_unknown_names_answer_400_with_jiras_message_and_are_not_problems(
    fake: FakeJira, fields: dict[str, Any], message: str
) -> None:
    jira = connect(fake)

    with pytest.raises(JIRAError) as caught:
        create(jira, **fields)

    assert caught.value.status_code == 400
    assert message in caught.value.text
    assert fake.issues == {}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"summary": None}, "You must specify a summary of the issue."),
        ({"summary": "two\nlines"}, "contains newline characters"),
        ({"summary": "x" * 256}, "Summary must be less than 255 characters."),
        ({"labels": ["has space"]}, "The label 'has space' contains spaces"),
        ({"labels": "finops"}, "data was not an array"),
        ({"description": {"type": "doc"}}, "Operation value must be a string"),
        ({"priority": "High"}, "Could not find valid 'id' or 'name' in priority object."),
        ({"assignee": {"name": "someone"}}, "Field 'assignee' cannot be set"),
    ],
)
def test_shape_errors_answer_400_and_are_problems(
    fake: FakeJira, fields: dict[str, Any], message: str
) -> None:
    jira = connect(fake)

    with pytest.raises(JIRAError) as caught:
        create(jira, **fields)

    assert caught.value.status_code == 400
    assert message in caught.value.text
    assert len(fake.problems) == 1
    assert message in fake.problems[0]
    fake.problems.clear()


def test_a_missing_summary_is_a_problem(fake: FakeJira) -> None:
    jira = connect(fake)

    with pytest.raises(JIRAError):
        jira.create_issue(fields={"project": {"key": "FIN"}, "issuetype": {"name": "Task"}})

    assert fake.problems == ["POST /rest/api/2/issue: 400 summary: You must specify a summary of the issue."]
    fake.problems.clear()


def test_unknown_issue_is_a_404_and_not_a_problem(fake: FakeJira) -> None:
    jira = connect(fake)

    with pytest.raises(JIRAError) as caught:
        jira.issue("FIN-99")

    assert caught.value.status_code == 404
    assert "Issue does not exist or you do not have permission to see it." in caught.value.text


def test_update_fields_and_add_a_label(fake: FakeJira) -> None:
    jira = connect(fake)
    issue = create(jira, labels=["finops"])

    issue.update(fields={"summary": "EC2 spend up 45%", "priority": {"name": "Highest"}})
    issue.add_field_value("labels", "finops-acknowledged")
    issue.update(update={"labels": [{"remove": "finops"}]})

    again = jira.issue("FIN-1")
    assert again.fields.summary == "EC2 spend up 45%"
    assert again.fields.priority.name == "Highest"
    assert again.fields.labels == ["finops-acknowledged"]
    assert [c.method for c in fake.calls_to("PUT", "issue")] == ["PUT"] * 3


def test_editing_project_or_an_unknown_field_is_a_problem(fake: FakeJira) -> None:
    jira = connect(fake)
    issue = create(jira)

    with pytest.raises(JIRAError) as caught:
        issue.update(fields={"project": {"key": "FIN"}})

    assert "Field 'project' cannot be set" in caught.value.text
    assert len(fake.problems) == 1
    fake.problems.clear()


def test_unserved_endpoints_answer_404_and_are_problems(fake: FakeJira) -> None:
    jira = connect(fake)
    issue = create(jira)

    with pytest.raises(JIRAError) as caught:
        issue.delete()

    assert caught.value.status_code == 404
    assert fake.problems == [
        f"DELETE /rest/api/2/issue/{issue.id}: 404 not served by the fake: DELETE /rest/api/2/issue/{issue.id}"
    ]
    fake.problems.clear()


# --- comments and transitions -------------------------------------------------------------------


def test_comments(fake: FakeJira) -> None:
    jira = connect(fake)
    create(jira)

    added = jira.add_comment("FIN-1", "Acknowledged in Slack by <@U123>.")

    assert added.body == "Acknowledged in Slack by <@U123>."
    assert added.author.emailAddress == USER
    assert [c.body for c in jira.comments("FIN-1")] == [added.body]
    assert jira.issue("FIN-1").fields.comment.total == 1
    assert fake.issues["FIN-1"].comments[0]["id"] == added.id


def test_an_empty_comment_is_a_problem(fake: FakeJira) -> None:
    jira = connect(fake)
    create(jira)

    with pytest.raises(JIRAError, match="Comment body can not be empty"):
        jira.add_comment("FIN-1", "  ")

    assert len(fake.problems) == 1
    fake.problems.clear()


def test_transition_done_then_reopen(fake: FakeJira) -> None:
    jira = connect(fake)
    create(jira)

    assert [t["name"] for t in jira.transitions("FIN-1")] == ["Done"]
    jira.transition_issue(
        "FIN-1", "Done", fields={"resolution": {"name": "Won't Do"}}, comment="Planned spend."
    )

    done = jira.issue("FIN-1")
    assert done.fields.status.name == "Done"
    assert done.fields.status.statusCategory.key == "done"
    assert done.fields.resolution.name == "Won't Do"
    assert done.fields.resolutiondate is not None
    assert [c.body for c in jira.comments("FIN-1")] == ["Planned spend."]
    assert [t["id"] for t in jira.transitions("FIN-1")] == ["11"]

    jira.transition_issue("FIN-1", "11")  # by id, as the client sends it (an int)

    reopened = jira.issue("FIN-1")
    assert reopened.fields.status.name == "To Do"
    assert (reopened.fields.resolution, reopened.fields.resolutiondate) == (None, None)
    assert fake.calls_to("POST", "issue/FIN-1/transitions")[-1].body["transition"] == {"id": 11}


def test_an_unavailable_transition_is_a_400_but_not_a_problem(fake: FakeJira) -> None:
    jira = connect(fake)
    create(jira)

    with pytest.raises(JIRAError) as caught:
        jira.transition_issue("FIN-1", "11")  # Reopen, while the issue is open

    assert caught.value.status_code == 400
    assert "Transition id '11' is not valid for this issue." in caught.value.text


def test_resolve_and_reopen_are_what_a_person_does_in_jira(fake: FakeJira) -> None:
    jira = connect(fake)
    create(jira)

    fake.resolve("FIN-1", "Duplicate")
    assert jira.issue("FIN-1").fields.resolution.name == "Duplicate"
    assert fake.issues["FIN-1"].fields["status"]["statusCategory"]["key"] == "done"

    fake.reopen("FIN-1")
    assert jira.issue("FIN-1").fields.status.statusCategory.key == "new"
    assert fake.issues["FIN-1"].fields["resolutiondate"] is None


# --- search --------------------------------------------------------------------------------------


def test_search_by_label_on_cloud_uses_the_enhanced_search(fake: FakeJira) -> None:
    jira = connect(fake)
    create(jira, labels=["finops-anomaly-a"])
    create(jira, labels=["finops-anomaly-b"])

    found = jira.search_issues('labels = "finops-anomaly-b"')

    assert [i.key for i in found] == ["FIN-2"]
    assert fake.calls_to("GET", "/rest/api/2/search/jql")[0].query["jql"] == 'labels = "finops-anomaly-b"'
    assert [c.path for c in fake.calls if "search" in c.path] == ["/rest/api/2/search/jql"]
    assert jira.search_issues("labels = finops-anomaly-a", use_post=True)[0].key == "FIN-1"


def test_search_by_label_on_a_server_uses_search(server_fake: FakeJira) -> None:
    jira = connect(server_fake)
    create(jira, labels=["finops-anomaly-a"])
    create(jira, labels=["finops-anomaly-b"])

    found = jira.search_issues("labels in (finops-anomaly-a, finops-anomaly-b) ORDER BY created DESC")

    assert [i.key for i in found] == ["FIN-2", "FIN-1"]
    assert found.total == 2
    assert [c.path for c in server_fake.calls if "search" in c.path] == ["/rest/api/2/search"]


def test_the_other_search_endpoint_is_refused_per_deployment(fake: FakeJira, server_fake: FakeJira) -> None:
    auth = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()}

    cloud = requests.get(
        f"{fake.url}/rest/api/2/search", params={"jql": "project = FIN"}, headers=auth, timeout=5
    )
    server = requests.get(
        f"{server_fake.url}/rest/api/2/search/jql", params={"jql": "project = FIN"}, headers=auth, timeout=5
    )

    assert cloud.status_code == 410
    assert server.status_code == 404
    assert len(fake.problems) == len(server_fake.problems) == 1
    fake.problems.clear()
    server_fake.problems.clear()


def test_search_pages_with_next_page_token_on_cloud(fake: FakeJira) -> None:
    jira = connect(fake)
    for _ in range(3):
        create(jira, labels=["finops"])

    first = jira.enhanced_search_issues("labels = finops", maxResults=2)
    rest = jira.enhanced_search_issues("labels = finops", maxResults=2, nextPageToken=first.nextPageToken)
    every = jira.search_issues("labels = finops", maxResults=0)  # all, page by page

    assert [i.key for i in first] == ["FIN-1", "FIN-2"]
    assert [i.key for i in rest] == ["FIN-3"]
    assert rest.nextPageToken is None
    assert [i.key for i in every] == ["FIN-1", "FIN-2", "FIN-3"]


def test_search_returns_the_fields_asked_for(fake: FakeJira) -> None:
    jira = connect(fake)
    create(jira, labels=["finops"])

    found = jira.search_issues("key = FIN-1", fields="summary,status", json_result=True)

    assert set(found["issues"][0]["fields"]) == {"summary", "status"}
    assert found["isLast"] is True


def test_jql_subset(fake: FakeJira) -> None:
    noon = datetime(2024, 5, 31, 12, 0, tzinfo=UTC)
    now = [noon - timedelta(hours=2)]
    fake.clock = lambda: now[0]
    jira = connect(fake)
    create(jira, labels=["finops", "a"])  # created 10:00
    now[0] = noon - timedelta(hours=1)
    create(jira, labels=["finops", "b"])  # 11:00
    now[0] = noon - timedelta(minutes=10)
    create(jira, labels=["other"])  # 11:50
    now[0] = noon - timedelta(minutes=1)
    fake.resolve("FIN-2")  # 11:59
    now[0] = noon

    def keys(jql: str) -> list[str]:
        return [i.key for i in jira.search_issues(jql)]

    assert keys("project = FIN AND labels = finops") == ["FIN-1", "FIN-2"]
    assert keys("labels in (a, other)") == ["FIN-1", "FIN-3"]
    assert keys("key in (FIN-1, FIN-3)") == ["FIN-1", "FIN-3"]
    assert keys("project = FIN and statusCategory = Done") == ["FIN-2"]
    assert keys("project = FIN AND statusCategory != Done ORDER BY key DESC") == ["FIN-3", "FIN-1"]
    assert keys('project = FIN AND statusCategory in ("To Do", "In Progress")') == ["FIN-1", "FIN-3"]
    assert keys("project = FIN AND status = Done") == ["FIN-2"]
    assert keys("project = FIN AND resolutiondate >= -30d") == ["FIN-2"]
    assert keys("project = FIN AND updated >= -5m") == ["FIN-2"]
    assert keys("project = FIN AND updated >= -30m ORDER BY updated DESC") == ["FIN-2", "FIN-3"]
    assert keys("project = FIN AND created < -90m") == ["FIN-1"]
    assert keys("project = FIN AND created >= '2024-05-31 11:00' ORDER BY created DESC") == ["FIN-3", "FIN-2"]
    assert keys("project = FIN AND created >= 2024/05/31") == ["FIN-1", "FIN-2", "FIN-3"]
    assert fake.issues["FIN-2"].fields["resolutiondate"] == jira_time(noon - timedelta(minutes=1))


@pytest.mark.parametrize(
    ("jql", "message"),
    [
        ("labels = a OR labels = b", "expecting AND or ORDER BY but got 'OR'"),
        ("summary ~ cost", "'summary ~' is not served by the fake"),
        ("assignee = currentUser()", "the function 'currentUser' is not served"),
        ("cost_center = x", "Field 'cost_center' does not exist"),
        ("statusCategory = Closed", "The value 'closed' does not exist for the field 'statusCategory'."),
        ("updated >= yesterday", "Date value 'yesterday' for field 'updated' is invalid."),
        ("ORDER BY created", "Unbounded JQL queries are not allowed here."),
    ],
)
def test_jql_outside_the_subset_is_a_400_and_a_problem(fake: FakeJira, jql: str, message: str) -> None:
    jira = connect(fake)

    with pytest.raises(JIRAError) as caught:
        jira.search_issues(jql)

    assert caught.value.status_code == 400
    assert message in caught.value.text
    assert len(fake.problems) == 1
    fake.problems.clear()


def test_parse_jql() -> None:
    assert parse_jql('labels in (a, "b c") and KEY = FIN-1 order by updated desc, key') == (
        [("labels", "in", ["a", "b c"]), ("key", "=", ["FIN-1"])],
        [("updated", True), ("key", False)],
    )


def test_resolve_and_reopen_change_what_done_searches_find(fake: FakeJira) -> None:
    jira = connect(fake)
    create(jira)
    done = "project = FIN AND statusCategory = Done"

    assert jira.search_issues(done) == []
    fake.resolve("FIN-1")
    assert [i.key for i in jira.search_issues(done)] == ["FIN-1"]
    assert [i.key for i in jira.search_issues("project = FIN AND resolutiondate >= -5m")] == ["FIN-1"]
    fake.reopen("FIN-1")
    assert jira.search_issues(done) == []


# --- failures ------------------------------------------------------------------------------------


def test_fail_once_with_503_raises_with_max_retries_0(fake: FakeJira) -> None:
    jira = connect(fake)
    fake.fail("POST", "/rest/api/2/issue", status=503)

    with pytest.raises(JIRAError) as caught:
        create(jira)

    assert caught.value.status_code == 503
    assert "Service Unavailable" in caught.value.text
    assert fake.issues == {}
    assert create(jira).key == "FIN-1"  # only once
    assert len(fake.calls_to("POST", "/rest/api/2/issue")) == 2


def test_the_default_client_does_not_retry_a_bare_503(fake: FakeJira) -> None:
    jira = JIRA(server=fake.url, basic_auth=(USER, TOKEN))  # max_retries=3
    fake.fail("GET", "myself", status=503, times=1)

    with pytest.raises(JIRAError) as caught:
        jira.myself()

    assert caught.value.status_code == 503
    assert len(fake.calls_to("GET", "myself")) == 1


@pytest.mark.parametrize("status", [429, 503])
def test_the_default_client_retries_429_and_503_with_retry_after(fake: FakeJira, status: int) -> None:
    jira = JIRA(server=fake.url, basic_auth=(USER, TOKEN))  # max_retries=3
    jira._session.max_retry_delay = 0  # it would sleep 2 x Retry-After seconds between tries
    fake.fail("GET", "myself", status=status, times=2, retry_after=1)

    assert jira.myself()["emailAddress"] == USER
    assert len(fake.calls_to("GET", "myself")) == 3


def test_fail_429_with_max_retries_0_raises_and_carries_retry_after(fake: FakeJira) -> None:
    jira = connect(fake)
    fake.fail(
        "POST", "issue/FIN-1/comment", status=429, retry_after=7, body={"message": "Rate limit exceeded."}
    )
    create(jira)

    with pytest.raises(JIRAError) as caught:
        jira.add_comment("FIN-1", "hello")

    assert caught.value.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "7"
    assert caught.value.text == "Rate limit exceeded."


def test_fail_matches_whole_path_segments(fake: FakeJira) -> None:
    jira = connect(fake)
    fake.fail("GET", "/rest/api/2/issue", status=500)

    assert jira.issue_types()  # /issuetype is not under /issue
    with pytest.raises(JIRAError):
        jira.issue("FIN-1")


def test_slow_delays_the_answer_after_applying_the_request(fake: FakeJira) -> None:
    jira = connect(fake)
    fake.slow("POST", "/rest/api/2/issue", 0.3)

    started = time.monotonic()
    create(jira)
    assert time.monotonic() - started >= 0.3

    fake.slow("POST", "/rest/api/2/issue", 1.0)
    hasty = connect(fake, timeout=0.2)
    with pytest.raises(requests.exceptions.ReadTimeout):
        create(hasty)
    assert "FIN-2" in fake.issues  # Jira did the work; only the answer was late
