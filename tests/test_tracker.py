"""The tracker backends: a YAML file, and Jira's REST API against a local server that answers its
documented endpoints and status codes (200, 204, 400, 401, 404); tracker_for from release.yaml;
the leftover writer."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from pytest_release.adapters.leftovers import write_leftover
from pytest_release.adapters.tracker import (
    FileTracker,
    JiraTracker,
    TrackerError,
    tracker_for,
)
from pytest_release.config import load_config
from tests.support.demo import free_port
from tests.support.jira_server import JIRA_EMAIL, JIRA_PAT, JIRA_TOKEN

TRACKER_FILE = """\
# the team's tickets
SHOP-1: Ready for Release   # shipped with v2
SHOP-2: "In Progress"
SHOP-3:
  status: Code Review
  owner: dana
"""


@pytest.fixture
def tracker_file(tmp_path: Path) -> Path:
    path = tmp_path / "_docs" / "tracker.yaml"
    path.parent.mkdir()
    path.write_text(TRACKER_FILE)
    return path


# --- the file backend ------------------------------------------------------------------------
def test_file_tracker_reads_plain_quoted_and_mapping_statuses(tracker_file):
    tracker = FileTracker(tracker_file)
    assert [tracker.status(k) for k in ("SHOP-1", "SHOP-2", "SHOP-3")] == ["Ready for Release", "In Progress", "Code Review"]


def test_file_tracker_move_rewrites_the_line_and_keeps_comments(tracker_file):
    tracker = FileTracker(tracker_file)
    tracker.move("SHOP-1", "Released")
    tracker.move("SHOP-2", "Code Review: 2nd round")  # a value that needs quoting in YAML
    text = tracker_file.read_text()
    assert "# the team's tickets" in text and "# shipped with v2" in text
    assert tracker.status("SHOP-1") == "Released"
    assert tracker.status("SHOP-2") == "Code Review: 2nd round"
    assert not list(tracker_file.parent.glob(".*.tmp"))  # written through a temp file, then replaced


def test_file_tracker_move_of_a_mapping_entry_keeps_its_other_fields(tracker_file):
    tracker = FileTracker(tracker_file)
    tracker.move("SHOP-3", "Ready for Release")
    assert tracker.status("SHOP-3") == "Ready for Release"
    assert "owner: dana" in tracker_file.read_text()
    assert tracker.status("SHOP-1") == "Ready for Release"  # the rest is untouched


def test_file_tracker_move_to_the_same_status_writes_nothing(tracker_file):
    before = tracker_file.stat().st_mtime_ns
    FileTracker(tracker_file).move("SHOP-1", "Ready for Release")
    assert tracker_file.stat().st_mtime_ns == before


def test_file_tracker_unknown_ticket_says_what_to_do_and_changes_nothing(tracker_file):
    before = tracker_file.read_text()
    with pytest.raises(TrackerError, match=r"ticket SHOP-9 is not in .*tracker.yaml: add it") as info:
        FileTracker(tracker_file).move("SHOP-9", "Released")
    assert info.value.kind == "unknown" and not info.value.stops_release
    assert tracker_file.read_text() == before


def test_file_tracker_missing_or_broken_file_is_an_error_that_stops(tmp_path):
    with pytest.raises(TrackerError, match="does not exist: create it") as missing:
        FileTracker(tmp_path / "nope.yaml").status("SHOP-1")
    assert missing.value.kind == "unreachable" and missing.value.stops_release
    broken = tmp_path / "broken.yaml"
    broken.write_text("SHOP-1: [unclosed\n")
    with pytest.raises(TrackerError, match=r"broken.yaml:\d+: not valid YAML") as bad:
        FileTracker(broken).status("SHOP-1")
    assert bad.value.kind == "invalid"
    listed = tmp_path / "list.yaml"
    listed.write_text("- SHOP-1\n")
    with pytest.raises(TrackerError, match="expected a mapping"):
        FileTracker(listed).status("SHOP-1")


# --- the Jira backend ------------------------------------------------------------------------
def jira(server, **kw) -> JiraTracker:
    return JiraTracker(server.url, username=kw.get("username", JIRA_EMAIL), token=kw.get("token", JIRA_TOKEN), timeout=5)


def test_jira_status_asks_the_documented_endpoint_with_basic_auth(jira_server):
    assert jira(jira_server).status("SHOP-2") == "In Progress"
    method, path, query, _ = jira_server.requests[-1]
    assert (method, path, query) == ("GET", "/rest/api/2/issue/SHOP-2", {"fields": ["status"]})


def test_jira_personal_access_token_is_sent_as_bearer(jira_server):
    assert JiraTracker(jira_server.url, token=JIRA_PAT).status("SHOP-1") == "Ready for Release"


def test_jira_move_finds_the_transition_to_the_status_and_posts_it(jira_server):
    tracker = jira(jira_server)
    tracker.move("SHOP-1", "Released")
    assert jira_server.issues["SHOP-1"] == "Released"
    posts = [(p, b) for m, p, _, b in jira_server.requests if m == "POST"]
    assert posts == [("/rest/api/2/issue/SHOP-1/transitions", {"transition": {"id": "41"}})]
    tracker.move("SHOP-1", "released")  # already there (status names compare without case): no POST
    assert len([r for r in jira_server.requests if r[0] == "POST"]) == 1


def test_jira_move_without_a_transition_is_refused_with_what_the_workflow_offers(jira_server):
    with pytest.raises(TrackerError, match=r"SHOP-2 cannot move from 'In Progress' to 'Released'.*offers only Code Review, To Do") as info:
        jira(jira_server).move("SHOP-2", "Released")
    assert info.value.kind == "refused" and jira_server.issues["SHOP-2"] == "In Progress"


def test_jira_400_from_a_workflow_validator_is_refused_with_jiras_message(jira_server):
    jira_server.refuse_transitions.add("SHOP-1")
    with pytest.raises(TrackerError, match="refused POST /rest/api/2/issue/SHOP-1/transitions: resolution: Resolution is required") as info:
        jira(jira_server).move("SHOP-1", "Released")
    assert info.value.kind == "refused" and jira_server.issues["SHOP-1"] == "Ready for Release"


def test_jira_404_is_an_unknown_ticket(jira_server):
    with pytest.raises(TrackerError, match="ticket SHOP-99 does not exist in Jira.*Issue does not exist") as info:
        jira(jira_server).status("SHOP-99")
    assert info.value.kind == "unknown" and not info.value.stops_release


@pytest.mark.parametrize("username, token, have", [(JIRA_EMAIL, "wrong-token", "the credentials were refused"), (None, None, "no credentials were set")])
def test_jira_401_stops_and_names_the_variables_never_the_secret(jira_server, username, token, have):
    with pytest.raises(TrackerError) as info:
        JiraTracker(jira_server.url, username=username, token=token, credentials_env="SHOP_JIRA").status("SHOP-1")
    message = str(info.value)
    assert info.value.kind == "unauthorized" and info.value.stops_release
    assert "HTTP 401" in message and have in message and "SHOP_JIRA_USERNAME and SHOP_JIRA_TOKEN" in message
    assert "wrong-token" not in message and JIRA_TOKEN not in message


def test_jira_unreachable_stops_with_what_to_check():
    with pytest.raises(TrackerError, match=r"is unreachable \(connection refused\): check tracker.url") as info:
        JiraTracker(f"http://127.0.0.1:{free_port()}", token="t", timeout=2).status("SHOP-1")
    assert info.value.kind == "unreachable" and info.value.stops_release


def test_jira_refuses_a_key_that_is_not_a_jira_key_before_any_request(jira_server):
    with pytest.raises(TrackerError, match="not a Jira issue key"):
        jira(jira_server).status("../../admin")
    assert jira_server.requests == []


def test_jira_url_with_credentials_is_refused():
    with pytest.raises(TrackerError, match="must not carry credentials"):
        JiraTracker("https://bot:secret@acme.atlassian.net")


# --- tracker_for and release.yaml ------------------------------------------------------------
def config(tmp_path: Path, tracker: str) -> Path:
    path = tmp_path / "release.yaml"
    path.write_text(textwrap.dedent(tracker) + "environments:\n  staging: {}\n")
    return path


def test_tracker_for_the_file_backend_and_the_embedded_default(tmp_path, tracker_file):
    assert isinstance(tracker_for(load_config(config(tmp_path, "tracker: {backend: file, path: _docs/tracker.yaml}\n"))), FileTracker)
    default = tracker_for(load_config(config(tmp_path, "")))  # no tracker: section, _docs/tracker.yaml exists
    assert isinstance(default, FileTracker) and default.path == tracker_file
    tracker_file.unlink()
    assert tracker_for(load_config(config(tmp_path, ""))) is None


def test_tracker_for_jira_takes_credentials_from_the_environment_only(tmp_path, jira_server):
    cfg = load_config(config(tmp_path, f"tracker: {{backend: jira, url: '{jira_server.url}', credentials_env: SHOP_JIRA}}\n"))
    tracker = tracker_for(config=cfg, environ={"SHOP_JIRA_USERNAME": JIRA_EMAIL, "SHOP_JIRA_TOKEN": JIRA_TOKEN})
    assert isinstance(tracker, JiraTracker) and tracker.status("SHOP-3") == "Code Review"
    assert JIRA_TOKEN not in repr(tracker)
    with pytest.raises(TrackerError) as info:
        tracker_for(cfg, environ={}).status("SHOP-3")
    assert info.value.kind == "unauthorized"


@pytest.mark.parametrize(
    "section, message",
    [
        ("tracker: {backend: trello}\n", "tracker.backend: expected file or jira"),
        ("tracker: {backend: jira}\n", "tracker.url: the jira backend needs the site's URL"),
        ("tracker: {backend: jira, url: 'https://u:p@acme.atlassian.net'}\n", "tracker.url: must not carry credentials"),
        ("tracker: {backend: file, token: abc}\n", "tracker.token: unknown key"),
        ("tracker: {backend: jira, url: 'https://x', credentials_env: 'my-vars'}\n", "tracker.credentials_env: expected the prefix"),
    ],
)
def test_bad_tracker_config_names_the_key(tmp_path, section, message):
    from pytest_release.config import ConfigError

    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        load_config(config(tmp_path, section))


# --- leftovers -------------------------------------------------------------------------------
def test_leftover_is_a_markdown_note_that_is_never_overwritten(tmp_path):
    now = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.timezone.utc)
    first = write_leftover(tmp_path, "Tracker unreachable: v2/prod", "Jira said 401.\n\nSet the token.", now=now, redact=lambda t: t.replace("401", "***"))
    second = write_leftover(tmp_path, "Tracker unreachable: v2/prod", "again", now=now)
    assert first == tmp_path / "_docs" / "_process_leftovers" / "2026-03-04-050607_tracker-unreachable-v2-prod.md"
    assert second.name == "2026-03-04-050607_tracker-unreachable-v2-prod-2.md"
    text = first.read_text()
    assert text.startswith("# Leftover: Tracker unreachable: v2/prod\n")
    assert "2026-03-04 05:06:07 UTC" in text and "Jira said ***." in text and "Set the token." in text
