"""docs/ci.md's GitHub Actions workflows and GitLab CI job, checked for syntax (YAML, the keys each
system requires, every `run`/`script` through `bash -n`, every `--release-*` option a real one),
and the GitHub job summary and step outputs of a real release."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

DOC = Path(__file__).resolve().parents[1] / "docs" / "ci.md"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
CONTEXTS = ("inputs.", "secrets.", "steps.", "github.", "env.", "failure()", "always()")


def blocks() -> dict[str, str]:
    """The YAML blocks of docs/ci.md by the file name in their first comment line."""
    found = {}
    for body in re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S):
        first = body.splitlines()[0]
        assert first.startswith("# "), f"a YAML block in {DOC.name} must start with '# <file name>': {first!r}"
        found[first[2:].strip()] = body
    return found


@pytest.fixture(scope="module")
def release_options() -> set[str]:
    help_text = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--help"], capture_output=True, text=True, check=True, cwd="/"
    ).stdout
    options = set(re.findall(r"--release-[a-z-]+", help_text))
    assert "--release-rollback-only" in options and "--release-env" in options
    return options


def used_options(text: str) -> set[str]:
    return set(re.findall(r"--release-[a-z-]+", text))


def bash_syntax_ok(script: str) -> None:
    plain = EXPRESSION.sub("PLACEHOLDER", script)
    result = subprocess.run(["bash", "-n"], input=plain, capture_output=True, text=True)
    assert result.returncode == 0, f"bash -n: {result.stderr}\n{plain}"


def test_the_doc_has_the_three_files():
    assert set(blocks()) == {".github/workflows/release.yml", ".github/workflows/rollback.yml", ".gitlab-ci.yml"}


@pytest.mark.parametrize("name", [".github/workflows/release.yml", ".github/workflows/rollback.yml"])
def test_github_workflows(name, release_options):
    text = blocks()[name]
    workflow = yaml.safe_load(text)
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    inputs = triggers["workflow_dispatch"]["inputs"]
    assert inputs["environment"]["type"] == "environment"
    assert workflow["concurrency"]["group"].startswith("release-${{ inputs.environment }}")
    assert workflow["concurrency"]["cancel-in-progress"] is False
    for expression in EXPRESSION.findall(text):
        assert expression.startswith(CONTEXTS) or " && " in expression, expression
        for reference in re.findall(r"inputs\.([a-z_]+)", expression):
            assert reference in inputs, f"{expression} names an input the workflow does not declare"
    for job_name, job in workflow["jobs"].items():
        assert job["runs-on"] and job["environment"]["name"] == "${{ inputs.environment }}", job_name  # reviewers gate here
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), step
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", step["uses"]), step["uses"]
            else:
                bash_syntax_ok(step["run"])
        uploads = [s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")]
        assert uploads and all(s["if"] == "always()" for s in uploads)
        assert "_docs/04_release/" in uploads[0]["with"]["path"]
        commands = " ".join(s.get("run", "") for s in job["steps"])
        assert "--junitxml=" in commands and '--release-env="${{ inputs.environment }}"' in commands
    assert used_options(text) <= release_options, used_options(text) - release_options


def test_the_github_release_job_publishes_junit_and_waits_for_reviewers(release_options):
    workflow = yaml.safe_load(blocks()[".github/workflows/release.yml"])
    job = workflow["jobs"]["release"]
    steps = job["steps"]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    junit = next(s for s in steps if "junit" in s.get("uses", ""))
    assert junit["with"]["report_paths"] == "release.xml" and junit["if"] == "always()"
    release = next(s for s in steps if s.get("id") == "release")
    assert "--release-confirm" in release["run"] and "--junitxml=release.xml" in release["run"]
    assert workflow["permissions"]["contents"] == "write"
    assert "steps.release.outputs.exit_code" in yaml.safe_dump(steps)
    rollback = yaml.safe_load(blocks()[".github/workflows/rollback.yml"])
    assert "--release-rollback-only" in rollback["jobs"]["rollback"]["steps"][-2]["run"]


def test_gitlab_ci(release_options):
    text = blocks()[".gitlab-ci.yml"]
    pipeline = yaml.safe_load(text)
    stages = pipeline["stages"]
    template = pipeline[".release"]
    assert template["artifacts"]["reports"]["junit"] == "release.xml"
    assert template["artifacts"]["when"] == "always"
    assert "_docs/04_release/" in template["artifacts"]["paths"]
    bash_syntax_ok("\n".join(template["before_script"] + template["script"]))
    assert pipeline["variables"]["GIT_DEPTH"] == "0"
    jobs = {k: v for k, v in pipeline.items() if not k.startswith(".") and isinstance(v, dict) and k != "variables"}
    assert set(jobs) == {"release-staging", "release-production"}
    for name, job in jobs.items():
        merged = {**template, **job}
        assert merged["stage"] in stages
        assert job["environment"]["name"] == job["variables"]["RELEASE_ENV"]
        assert job["resource_group"] == f"release-{job['variables']['RELEASE_ENV']}"
        for key in merged:
            assert key in {"stage", "image", "before_script", "script", "artifacts", "variables", "environment",
                           "resource_group", "rules", "needs", "extends"}, f"{name}: unknown GitLab job key {key}"
    assert jobs["release-production"]["rules"][0]["when"] == "manual"
    assert jobs["release-production"]["needs"] == ["release-staging"]
    assert used_options(text) <= release_options, used_options(text) - release_options


def test_github_job_summary_and_outputs_of_a_real_release(demo_release, monkeypatch, tmp_path):
    summary = tmp_path / "step_summary.md"
    summary.write_text("## Earlier step\n\n")
    outputs = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.setenv("DEMO_API_TOKEN", "demo-3f9c2a7b51e04d8a")
    result = demo_release.run("v3-bad")
    assert result.ret == 10, result.stdout.str()
    text = summary.read_text()
    assert text.startswith("## Earlier step\n\n## Release v3-bad to local: Rolled-Back\n")  # appended, not replaced
    assert "| Verdict | **Rolled-Back** (exit status 10) |" in text
    assert "1. error_rate breached" in text and "rollback succeeded: v1 is serving again" in text
    assert "| 5. Watch Window | failed |" in text
    assert "**Self-verification**" in text and "- [x] rollback report rollback_v3-bad_local_" in text
    assert "| Rollback report | `_docs/04_release/rollback_v3-bad_local_" in text
    assert "demo-3f9c2a7b51e04d8a" not in text
    values = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert values["verdict"] == "Rolled-Back" and values["exit_code"] == "10"
    assert values["report"].endswith(".md") and Path(values["report"]).exists()
    assert Path(values["rollback_report"]).name.startswith("rollback_v3-bad_local_")
