"""Built-in notifications and Grafana annotations inside real releases of the demo service.

Slack is a local server answering as Slack documents (`ok`, 400 `invalid_payload`, 404
`no_service`, 429 with Retry-After), Grafana a local server speaking its `/api/annotations`
API, the webhook a local receiver, the command a real program. Each state change is sent once,
never once per watch poll; a channel that fails is in the report, the terminal and the
self-verification, and the verdict and exit status stay what the release decided."""

from __future__ import annotations

import re

import json
import sys
import textwrap

from tests.support.chat_servers import NO_SERVICE, RATE_LIMITED, Answer, GrafanaAPI
from tests.test_gate_flows import configure, run_at_terminal

CHANNELS = """
notify:
  report_url: https://ci.example.com/artifacts/{report}
  channels:
    - {type: slack, url: "${SLACK_WEBHOOK_URL}"}
"""


def with_notify(demo_release, monkeypatch, slack_webhook, *, events_url=None, command=None, grafana=None, token=True) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", slack_webhook.url)
    text = CHANNELS
    if events_url:
        monkeypatch.setenv("EVENTS_URL", events_url)
        text += '    - {type: webhook, name: events, url: "${EVENTS_URL}"}\n'
    if command:
        text += f"    - {{type: command, argv: {json.dumps(command)}}}\n"
    if grafana is not None:
        if token:
            monkeypatch.setenv("DEMO_GRAFANA_TOKEN", GrafanaAPI.TOKEN)
        text += f"annotations:\n  url: {grafana.url}\n  token_env: DEMO_GRAFANA_TOKEN\n  dashboard_uid: demo-overview\n  tags: [demo]\n"
    configure(demo_release, text, top=True)


def recorder(tmp_path) -> tuple[list[str], object]:
    script = tmp_path / "record_event.py"
    log = tmp_path / "events.jsonl"
    script.write_text(textwrap.dedent(f"""
        import json, os, sys
        event = json.load(sys.stdin)
        with open({str(log)!r}, "a") as out:
            out.write(json.dumps({{"type": event["type"], "env": os.environ["RELEASE_EVENT"]}}) + "\\n")
    """))
    return [sys.executable, str(script)], log


def secrets_nowhere(demo_release, result, *secrets: str) -> None:
    texts = [result.stdout.str(), result.stderr.str(), *(p.read_text() for p in demo_release.release_dir.glob("*.md"))]
    junit = demo_release.pytester.path / "junit.xml"
    if junit.exists():
        texts.append(junit.read_text())
    for secret in secrets:
        assert not any(secret in text for text in texts), f"{secret[:6]}... leaked"


def test_a_release_notifies_every_channel_once_per_state_change_and_annotates_grafana(
    demo_release, monkeypatch, slack_webhook, event_sink, grafana_api, tmp_path
):
    argv, log = recorder(tmp_path)
    with_notify(demo_release, monkeypatch, slack_webhook, events_url=f"http://127.0.0.1:{event_sink.port}/ingest", command=argv, grafana=grafana_api)
    result = demo_release.run("v2", "--junitxml=junit.xml")
    assert result.ret == 0, result.stdout.str()

    # once per state change: the watch window's ten polls send nothing
    assert slack_webhook.events() == ["started", "released"]
    assert [r.json()["type"] for r in event_sink.requests] == ["io.github.pytest-release.release.started", "io.github.pytest-release.release.released"]
    assert [json.loads(line)["env"] for line in log.read_text().splitlines()] == ["started", "released"]
    final = slack_webhook.requests[-1].json()
    report_path = demo_release.reports()[0]
    assert final["blocks"][0]["text"]["text"] == "Released: v2 to local"
    assert final["blocks"][1]["fields"][0]["text"] == "*Verdict*\nReleased"
    assert final["blocks"][2]["text"]["text"] == "*Reason*\nevery phase passed"
    assert f"<https://ci.example.com/artifacts/{report_path.name}|{report_path.name}>" in final["blocks"][3]["elements"][0]["text"]
    started = event_sink.requests[0].json()
    assert started["data"]["detail"] == "deploying v2" and started["data"]["verdict"] is None and started["subject"] == "v2"

    # Grafana: the deploy point, the watch window's region, the verdict point, the deploy retagged
    assert [(r.method, r.path) for r in grafana_api.requests] == [
        ("POST", "/api/annotations"), ("POST", "/api/annotations"), ("POST", "/api/annotations"), ("PATCH", "/api/annotations/1"),
    ]
    deploy, region, verdict = grafana_api.annotations[1], grafana_api.annotations[2], grafana_api.annotations[3]
    tags = ["pytest-release", "env:local", "version:v2", "verdict:Released", "demo"]
    assert deploy["tags"] == tags and region["tags"] == tags and verdict["tags"] == tags  # the PATCH added the verdict
    assert deploy["text"] == "pytest-release: deploying v2 to local (all-at-once)" and "timeEnd" not in deploy
    assert region["timeEnd"] - region["time"] >= 20_000  # the demo's 20s window, on the simulated clock
    assert region["text"] == "pytest-release: watch window of v2 in local (passed)"
    assert verdict["text"] == "pytest-release: Released: v2 to local"
    assert deploy["time"] <= region["time"] < region["timeEnd"] <= verdict["time"]
    assert all(a["dashboardUID"] == "demo-overview" for a in grafana_api.annotations.values())

    report = demo_release.report()
    section = report.split("## Notifications and annotations", 1)[1].split("\n## ", 1)[0]
    assert f"Dashboard: [{grafana_api.url}/d/demo-overview?from=" in section
    assert "10 sent, all delivered." in section
    assert section.count("| slack #1 |") == 2 and section.count("| grafana annotations |") == 4
    assert "- [x] notifications and annotations: all 10 delivered" in report
    result.stdout.fnmatch_lines(["self-verification: all * items hold"])
    secrets_nowhere(demo_release, result, slack_webhook.PATH, GrafanaAPI.TOKEN, f"http://127.0.0.1:{event_sink.port}/ingest")


def test_a_failing_channel_never_changes_the_verdict_and_is_in_the_report_and_the_self_check(
    demo_release, monkeypatch, slack_webhook, grafana_api
):
    monkeypatch.setenv("DEMO_DEPLOY_FAIL", "1")
    # started: ok; rolling-back: 404 no_service (final); rolled-back: 429, then ok after Retry-After
    slack_webhook.answer(Answer(200, "ok"), NO_SERVICE, RATE_LIMITED)
    with_notify(demo_release, monkeypatch, slack_webhook, grafana=grafana_api, token=False)
    result = demo_release.run("v2", "--junitxml=junit.xml")
    assert result.ret == 10, result.stdout.str()
    result.stdout.fnmatch_lines(["Rolled-Back: deploy script failure: exit code 3*"])
    assert demo_release.demo.version() == "v1"

    assert slack_webhook.events() == ["started", "rolling-back", "rolled-back", "rolled-back"]  # one retry after the 429
    assert [r.json()["blocks"][1]["fields"][0]["text"] for r in slack_webhook.requests[:2]] == ["*Verdict*\nin progress", "*Verdict*\nrolling back"]
    assert all(r.headers.get("authorization") is None for r in grafana_api.requests) and not grafana_api.annotations

    report = demo_release.report()
    assert "**NOT delivered**: HTTP 404 no_service" in report
    assert "| slack #1 | rolled-back | delivered | 2 |" in report
    assert "**NOT delivered**: HTTP 401 Unauthorized" in report  # Grafana without its token
    (check,) = [line for line in report.splitlines() if line.startswith("- [ ] notifications and annotations NOT delivered: ")]
    assert "slack #1: rolling-back NOT delivered: HTTP 404 no_service" in check
    assert "grafana annotations: deploy NOT delivered: HTTP 401 Unauthorized" in check
    assert "watch window" not in check  # the window never ran: no region for it
    assert "**Rolled-Back**" in report
    result.stdout.fnmatch_lines([
        "*notification NOT delivered (the release goes on): slack #1: rolling-back NOT delivered: HTTP 404 no_service",
        "self-verification FAILED: notifications and annotations NOT delivered: *",
        "exit status: 10",
    ])
    secrets_nowhere(demo_release, result, slack_webhook.PATH)


def test_a_person_asked_at_the_gate_is_one_asked_event(demo_release, monkeypatch, slack_webhook):
    demo_release.edit_config(r"^    auto_proceed: true.*$", "")
    with_notify(demo_release, monkeypatch, slack_webhook)
    code, out = run_at_terminal(demo_release, [("Answer [A/B]:", "B")])
    assert code == 11, out
    assert slack_webhook.events() == ["asked", "aborted"]
    asked = slack_webhook.requests[0].json()
    assert asked["blocks"][1]["fields"][0]["text"] == "*Verdict*\nwaiting for an answer"
    assert asked["blocks"][2]["text"]["text"] == "*Reason*\nPre-release gate:"
    aborted = slack_webhook.requests[1].json()
    assert aborted["blocks"][1]["fields"][0]["text"] == "*Verdict*\nAborted"
    assert "aborted at the pre-release gate by" in aborted["blocks"][2]["text"]["text"]


BAD_CONFIGS = [
    ("notify:\n  channels:\n    - {type: teams, url: 'https://x.example.com'}\n", "environments.local.notify.channels[0].type: expected one of slack, webhook, command, got 'teams'"),
    ("notify:\n  channels:\n    - {type: slack}\n", "environments.local.notify.channels[0].url: a slack channel needs its URL"),
    ("notify:\n  channels:\n    - {type: command}\n", "environments.local.notify.channels[0].argv: a command channel needs argv"),
    ("notify:\n  channels:\n    - {type: command, argv: [x], url: 'https://x.example.com'}\n", "environments.local.notify.channels[0].url: a command channel has argv, not a url"),
    ("notify:\n  channels:\n    - {type: webhook, url: 'https://x.example.com', events: [polled]}\n", "environments.local.notify.channels[0].events: unknown event 'polled'"),
    ("notify:\n  channels:\n    - {type: slack, url: 'hooks.slack.com/x'}\n", "environments.local.notify.channels[0].url: expected an http:// or https:// URL"),
    ("notify:\n  channels: {type: slack}\n", "environments.local.notify.channels: expected a list of channels"),
    ("notify:\n  retries: 50\n", "environments.local.notify.retries: expected a whole number from 0 to 10"),
    ("notify:\n  report_url: https://ci.example.com/artifacts\n", "environments.local.notify.report_url: must contain {report}"),
    ("notify:\n  channel: []\n", "environments.local.notify.channel: unknown key (did you mean 'channels'?)"),
    ("annotations:\n  dashboard_uid: x\n", "environments.local.annotations.url: Grafana's URL is required"),
    ("annotations:\n  url: https://admin:pw@grafana.example.com\n", "environments.local.annotations.url: must not carry credentials"),
    ("annotations:\n  url: https://grafana.example.com\n  token: abc\n", "environments.local.annotations.token: unknown key"),
    ("annotations:\n  url: https://grafana.example.com\n  token_env: 'my token'\n", "environments.local.annotations.token_env: expected the name of an environment variable"),
]


def test_a_bad_notify_or_annotations_config_names_the_key_path(demo_release):
    from pytest_release.config import ConfigError, load_config

    original = demo_release.config.read_text()
    for text, expected in BAD_CONFIGS:
        demo_release.config.write_text(original)
        configure(demo_release, text, top=True)
        try:
            load_config(demo_release.config, environ={"DEMO_PORT": "1"})
        except ConfigError as exc:
            assert re.search(rf"{re.escape(str(demo_release.config.resolve()))}:\d+: {re.escape(expected)}", str(exc)), (expected, str(exc))
        else:
            raise AssertionError(f"accepted: {text}")


def test_a_bad_notify_config_is_a_usage_error_before_anything_runs(demo_release, slack_webhook):
    configure(demo_release, "notify:\n  channels:\n    - {type: teams, url: 'https://x.example.com'}\n", top=True)
    result = demo_release.run("v2")
    assert result.ret == 4, result.stdout.str()
    assert "environments.local.notify.channels[0].type: expected one of slack, webhook, command" in result.stderr.str()
    assert not demo_release.reports() and demo_release.demo.version() == "v1" and not slack_webhook.requests
