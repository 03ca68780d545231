"""`pytest --release-init`: a copy of the demo service without its release files is set up,
its blanks filled as a user would, and released for real; inference from a project's deploy
docs; nothing is ever overwritten; a blank left anywhere stops a release before it deploys."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from pytest_release.config import ConfigError, load_config
from pytest_release.core.project_docs import infer
from pytest_release.core.strategy import script_defect
from pytest_release.init import plan, run_init, write_new
from pytest_release.options import InvocationError, init_target
from tests.test_release_stats import git

RELEASE_FILES = ("release.yaml", "scripts/deploy.sh", "scripts/health-check.sh", "scripts/prometheus.sh", ".env.example")

# What the user writes into the deploy script's two blanks: start the service detached, wait until it serves.
SERVE = r'''
serve() {
    local version="$1" state="${DEMO_STATE_DIR:?}" old=""
    mkdir -p "$state"
    old="$(cat "$state/service.pid" 2>/dev/null || true)"
    if [[ -n "$old" ]] && kill -0 "$old" 2>/dev/null; then
        kill -TERM "$old"
        while kill -0 "$old" 2>/dev/null; do sleep 0.1; done
    fi
    setsid "${PYTHON:-python3}" service.py --version "$version" --port "$DEMO_PORT" --host 127.0.0.1 </dev/null >>"$state/service.log" 2>&1 &
    echo $! >"$state/service.pid"
    echo "$version" >"$state/service.version"
    "${PYTHON:-python3}" - "$DEMO_PORT" "$version" <<'PY'
import json, sys, time, urllib.request
for _ in range(100):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/version", timeout=1) as answer:
            if json.load(answer).get("version") == sys.argv[2]:
                print(f"deploy: {sys.argv[2]} is serving"); sys.exit(0)
    except Exception:
        pass
    time.sleep(0.1)
sys.exit(1)
PY
}

'''


def init(pytester: pytest.Pytester, config: Path) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--release-init", f"--release-config={config}", timeout=60)


def fill(text: str, answers: dict[str, str]) -> str:
    """Replace each quoted blank whose hint contains a key of `answers`, as a user would."""
    for hint, value in answers.items():
        text, count = re.subn(r'"<FILL: [^>]*' + re.escape(hint) + r'[^>]*>"', value, text)
        assert count, hint
    return text


def fill_deploy_script(path: Path) -> None:
    text = path.read_text()
    text = text.replace("# Make VERSION serve in ENV", SERVE.strip("\n") + "\n\n# Make VERSION serve in ENV", 1)
    for function in ("deploy_version", "rollback_to"):
        text, count = re.subn(
            r"(" + function + r"\(\) \{\n(?:    local [^\n]*\n))    # <FILL: [^\n]*\n    echo [^\n]*\n    return 1\n",
            r'\1    serve "$version"\n', text,
        )
        assert count == 1, function
    path.write_text(text)


def test_init_a_copy_of_the_demo_fill_the_blanks_and_release_it(demo_release):
    project, pytester = demo_release.demo.path, demo_release.pytester
    for name in RELEASE_FILES:
        (project / name).unlink()
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "the service")
    config = project / "release.yaml"

    result = init(pytester, config)
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines([
        "*release init*",
        "no _docs/04_deploy/environment_strategy.md or observability.md: staging and production skeletons",
        "wrote release.yaml", "wrote scripts/deploy.sh", "wrote scripts/health-check.sh", "wrote .env.example",
        "could not infer (12): fill in each blank marked FILL*",
        "  release.yaml: staging: the service's base URL for the smoke test*",
        "  scripts/deploy.sh: the commands that deploy $version to $env*",
        "  scripts/deploy.sh: the commands that roll $env back to $version*",
        "next: pytest --release-env=staging --release-version=VERSION",
    ])
    for name in ("scripts/deploy.sh", "scripts/health-check.sh"):
        assert (project / name).stat().st_mode & 0o111
    written = {name: (project / name).read_text() for name in ("release.yaml", "scripts/deploy.sh", ".env.example")}

    # A blank left anywhere: a usage error naming the key, before anything runs.
    with pytest.raises(ConfigError, match=r"release\.yaml:\d+: environments\.staging\.current_version\.url: still the blank pytest --release-init left"):
        load_config(config)

    # Run again: nothing is overwritten, even after the user changed the files.
    (project / ".env.example").write_text(written[".env.example"] + "EXTRA=\n")
    lines: list[str] = []
    assert run_init(project, "release.yaml", lines.append) == 0
    assert "kept release.yaml: it exists (never overwritten)" in lines and "kept .env.example: it exists (never overwritten)" in lines
    assert (project / ".env.example").read_text().endswith("EXTRA=\n")
    assert {name: (project / name).read_text() for name in ("release.yaml", "scripts/deploy.sh")} == {
        name: written[name] for name in ("release.yaml", "scripts/deploy.sh")}
    (project / ".env.example").write_text(written[".env.example"])

    url = demo_release.demo.url
    answers = {
        "a URL answering JSON with the deployed version": f'"{url}/version"',
        "the service's base URL for the smoke test": f'"{url}"',
        "the service's /metrics URL": f'"{url}/metrics"',
        "the request counter's name": "demo_http_requests_total",
        "the latency histogram's name": "demo_http_request_duration_seconds",
    }
    config.write_text(fill(written["release.yaml"], answers))
    with (project / ".env").open("a") as env_file:
        env_file.write(f"HEALTH_URL={url}/health\n")

    # The config is complete, the deploy script is not: a defect phase 2 finds before anything is deployed.
    assert script_defect("all-at-once", written["scripts/deploy.sh"]).startswith("still has 2 blank(s) that pytest --release-init left")

    fill_deploy_script(project / "scripts" / "deploy.sh")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "release setup")
    released = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--release-config={config}", "--release-env=staging",
                                            "--release-version=v2", "--release-confirm", timeout=300)
    assert released.ret == 0, released.stdout.str()
    released.stdout.fnmatch_lines(["*release verdict*", "Released", "exit status: 0"])
    assert demo_release.demo.version() == "v2"
    report = next((project / "_docs" / "04_release").glob("release_v2_staging_*.md")).read_text()
    assert "health-check staging: OK" in report or "| health |" in report


STRATEGY_DOC = """# Environment strategy

| Environment | URL | Strategy |
|---|---|---|
| Staging | https://staging.shop.example.com | canary, all-at-once |
| **Production** | https://shop.example.com (version at https://shop.example.com/api/version) | blue-green |

## QA environment

Internal only, at https://qa.shop.internal; deployed all at once.
"""

OBSERVABILITY_DOC = """# Observability

Metrics live in Prometheus at https://prometheus.shop.example.com:9090.

- Requests: `shop_http_requests_total{status=~"5.."}`
- Latency: `shop_http_request_duration_seconds_bucket`
"""


def test_environments_and_metrics_are_inferred_from_the_deploy_docs(pytester):
    docs = pytester.path / "_docs" / "04_deploy"
    docs.mkdir(parents=True)
    (docs / "environment_strategy.md").write_text(STRATEGY_DOC)
    (docs / "observability.md").write_text(OBSERVABILITY_DOC)
    result = init(pytester, pytester.path / "release.yaml")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines([
        "read: _docs/04_deploy/environment_strategy.md, _docs/04_deploy/observability.md",
        "inferred: environment staging (staging) from environment_strategy.md line 5: strategies all-at-once, canary, base URL https://staging.shop.example.com",
        "inferred: metrics backend https://prometheus.shop.example.com:9090 from observability.md",
        "next: pytest --release-env=staging --release-version=VERSION",
    ])
    text = (pytester.path / "release.yaml").read_text()
    data = yaml.safe_load(text)
    assert list(data["environments"]) == ["staging", "production", "qa"]
    production = data["environments"]["production"]
    assert production["kind"] == "production" and production["strategies"] == ["blue-green"]
    assert production["smoke"]["base_url"] == "https://shop.example.com"
    assert production["current_version"]["url"] == "https://shop.example.com/api/version"
    assert production["metrics"] == {"provider": "prometheus", "url": "https://prometheus.shop.example.com:9090",
                                     "names": {"requests_total": "shop_http_requests_total", "duration_histogram": "shop_http_request_duration_seconds"}}
    assert "traffic" not in production and "traffic" in data["environments"]["staging"]
    assert data["environments"]["qa"]["strategies"] == ["all-at-once"]
    # Only the version URLs were not written down: they stay blanks, listed.
    result.stdout.fnmatch_lines(["could not infer (4): *", "  release.yaml: staging: a URL answering JSON with the deployed version*"])


def test_inference_takes_only_what_is_unambiguous():
    found = infer("# Notes\n\nWe deploy on Fridays. See https://wiki.example.com.\n", "Dashboards at https://grafana.example.com\n")
    assert found.environments == [] and found.metrics_url is None and found.requests_total is None
    found = infer(None, None)
    assert found.environments == [] and found.notes == []


def test_generated_scripts_honour_the_deploy_contract(tmp_path):
    for item in plan(tmp_path)[0]:
        assert write_new(tmp_path, item)
    deploy = tmp_path / "scripts" / "deploy.sh"
    run = lambda *args: subprocess.run([str(deploy), *args], capture_output=True, text=True, cwd=tmp_path)  # noqa: E731
    assert run("--env", "staging", "--version", "../x").returncode == 2
    assert run("--env", "staging", "--version", "v2", "--strategy", "sideways").returncode == 2
    assert run("--env", "staging", "--version", "v2", "--canary-weight", "5").returncode == 2  # needs --strategy canary
    unfilled = run("--env", "staging", "--rollback", "v1")
    assert unfilled.returncode == 1 and "rollback_to is not filled in yet" in unfilled.stderr
    health = subprocess.run([str(tmp_path / "scripts" / "health-check.sh"), "--env", "staging"], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin"})
    assert health.returncode == 1 and "neither HEALTH_URL_STAGING nor HEALTH_URL is set" in health.stdout
    assert "--rollback" in deploy.read_text()


@pytest.mark.parametrize(
    "args, message",
    [
        (("--release-init", "--release-env=staging"), "--release-init sets a project up and releases nothing"),
        (("--release-init", "--release-version=v2"), "--release-init sets a project up and releases nothing"),
        (("--release-init", "--release-config=missing/dir/release.yaml"), "missing/dir is not a directory"),
    ],
)
def test_bad_init_options_are_refused_before_anything_is_written(pytester, args, message):
    config = pytester.parseconfig(*args)
    with pytest.raises(InvocationError, match=message):
        init_target(config)
    assert not list(pytester.path.rglob("release.yaml"))
