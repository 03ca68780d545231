"""The change summary and the release tag, against real git repositories made in tmp_path."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pytest_release.adapters.git import (
    ChangeSummary,
    GitError,
    change_summary,
    commit_time,
    create_tag,
    file_commit_time,
    head_sha,
    last_release_tag,
    tag_time,
)


class Repo:
    """A git repository whose every commit and tag has a fixed author, committer and date."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.clock = 1_700_000_000
        root.mkdir(parents=True, exist_ok=True)
        self.git("init", "--quiet", "--initial-branch=main")
        self.git("config", "user.name", "Release Tester")
        self.git("config", "user.email", "tester@example.com")
        self.git("config", "commit.gpgsign", "false")
        self.git("config", "tag.gpgsign", "false")

    def git(self, *args: str, author: str = "Ada Lovelace <ada@example.com>") -> str:
        self.clock += 60
        name, email = author.rstrip(">").split(" <")
        env = dict(
            os.environ,
            GIT_AUTHOR_NAME=name,
            GIT_AUTHOR_EMAIL=email,
            GIT_COMMITTER_NAME="Release Tester",
            GIT_COMMITTER_EMAIL="tester@example.com",
            GIT_AUTHOR_DATE=f"@{self.clock} +0000",
            GIT_COMMITTER_DATE=f"@{self.clock} +0000",
        )
        return subprocess.run(
            ["git", "-C", str(self.root), *args], env=env, check=True, capture_output=True, text=True
        ).stdout

    def commit(self, message: str, files: dict[str, str] | None = None, **kw: str) -> str:
        for name, content in (files or {}).items():
            path = self.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            self.git("add", "--", name)
        self.git("commit", "--quiet", "--allow-empty", "-m", message, **kw)
        return self.git("rev-parse", "HEAD").strip()

    def tag(self, name: str, annotated: bool = True) -> None:
        if annotated:
            self.git("tag", "-a", "-m", f"release {name}", name)
        else:
            self.git("tag", name)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "project")


def subjects(commits) -> list[str]:
    return [c.subject for c in commits]


def test_first_release_covers_the_whole_history_from_the_root_commit(repo):
    root = repo.commit("chore: initial import", {"README.md": "hi", "api/app.py": "x = 1"})
    repo.commit("feat(api): create orders PROJ-1", {"api/orders.py": "y = 2"})
    head = repo.commit("fix(web): wrong total", {"web/total.js": "1"})

    summary = change_summary(repo.root)

    assert summary.base is None
    assert summary.head_sha == head == head_sha(repo.root)
    assert subjects(summary.commits) == [
        "fix(web): wrong total",
        "feat(api): create orders PROJ-1",
        "chore: initial import",
    ]
    assert summary.commits[-1].sha == root
    assert summary.commits[-1].paths == ("README.md", "api/app.py")
    assert summary.commits[-1].author == "Ada Lovelace <ada@example.com>"
    assert summary.components == ("(root)", "api", "web")


def test_only_commits_since_the_last_release_tag(repo):
    repo.commit("feat: one", {"a/1": "1"})
    repo.tag("release/v1")
    repo.commit("feat: two", {"a/2": "2"})
    repo.tag("release/v2", annotated=False)
    repo.commit("feat: three", {"a/3": "3"})
    repo.tag("v3-candidate")  # does not match the pattern
    repo.commit("fix: four", {"b/4": "4"})

    summary = change_summary(repo.root)

    assert last_release_tag(repo.root) == "release/v2"
    assert summary.base == "release/v2"
    assert subjects(summary.commits) == ["fix: four", "feat: three"]
    assert change_summary(repo.root, tag_pattern="v*").base == "v3-candidate"
    assert subjects(change_summary(repo.root, tag_pattern="v*").commits) == ["fix: four"]


def test_a_release_tag_that_head_does_not_contain_is_ignored(repo):
    repo.commit("feat: base", {"a/1": "1"})
    repo.tag("release/v1")
    repo.git("switch", "--quiet", "-c", "hotfix")
    repo.commit("fix: hotfix only", {"a/2": "2"})
    repo.tag("release/v1.0.1")  # newer, but on a branch HEAD does not contain
    repo.git("switch", "--quiet", "main")
    repo.commit("feat: mainline", {"a/3": "3"})

    assert last_release_tag(repo.root) == "release/v1"
    assert subjects(change_summary(repo.root).commits) == ["feat: mainline"]


def test_the_most_recently_created_of_two_tags_wins(repo):
    repo.commit("feat: base", {"a/1": "1"})
    repo.tag("release/v9")
    repo.commit("feat: next", {"a/2": "2"})
    repo.tag("release/v10")

    assert last_release_tag(repo.root) == "release/v10"
    assert last_release_tag(repo.root, "nothing/*") is None


def test_merge_commits_are_left_out_but_what_they_merge_is_in(repo):
    repo.commit("chore: base", {"README.md": "1"})
    repo.tag("release/v1")
    repo.git("switch", "--quiet", "-c", "feature")
    repo.commit("feat(api): search PROJ-7", {"api/search.py": "1"})
    repo.git("switch", "--quiet", "main")
    repo.commit("fix(web): layout", {"web/a.css": "1"})
    repo.git("merge", "--quiet", "--no-ff", "-m", "Merge branch 'feature' PROJ-99", "feature")

    summary = change_summary(repo.root)

    assert sorted(subjects(summary.commits)) == ["feat(api): search PROJ-7", "fix(web): layout"]
    assert summary.tickets == ("PROJ-7",)


def test_grouping_by_component_and_kind(repo):
    repo.commit("chore: base", {"README.md": "1"})
    repo.tag("release/v1")
    feat = repo.commit("feat(api): add search", {"api/search.py": "1"})
    fix = repo.commit("fix: shared bug", {"api/util.py": "1", "web/util.js": "1"})
    other = repo.commit("docs: readme", {"README.md": "2"})
    chore = repo.commit("refactor web", {"web/app.js": "2"})

    summary = change_summary(repo.root)

    def shas(component, kind):
        return [c.sha for c in summary.by_component[component][kind]]

    assert summary.components == ("(root)", "api", "web")
    assert dict(summary.by_component["api"]).keys() == {"feature", "fix"}
    assert shas("api", "feature") == [feat]
    assert shas("api", "fix") == [fix]
    assert shas("web", "fix") == [fix]  # one commit, two components
    assert shas("web", "other") == [chore]
    assert shas("(root)", "other") == [other]
    assert [c.sha for c in summary.of_kind("fix")] == [fix]


def test_a_components_map_with_prefixes_and_globs(repo):
    repo.commit("chore: base", {"README.md": "1"})
    repo.tag("release/v1")
    repo.commit("feat: api", {"services/api/main.py": "1"})
    repo.commit("feat: api migration", {"services/api/migrations/001.sql": "1"})
    repo.commit("fix: web", {"services/web/index.js": "1"})
    repo.commit("fix: docs", {"docs/guide.md": "1"})

    summary = change_summary(
        repo.root,
        components={
            "services/api": "Orders API",
            "services/web/": "Storefront",
            "*/migrations/*": "Database",
        },
    )

    assert summary.components == ("Database", "Orders API", "Storefront", "docs")
    assert subjects(summary.by_component["Database"]["feature"]) == ["feat: api migration"]
    assert subjects(summary.by_component["Orders API"]["feature"]) == ["feat: api"]
    assert subjects(summary.by_component["docs"]["fix"]) == ["fix: docs"]


def test_a_move_across_components_counts_for_both(repo):
    repo.commit("chore: base", {"old/mod.py": "content\n" * 20})
    repo.tag("release/v1")
    (repo.root / "new").mkdir()
    repo.git("mv", "old/mod.py", "new/mod.py")
    repo.commit("refactor: move module")

    (commit,) = change_summary(repo.root).commits
    assert set(commit.paths) == {"old/mod.py", "new/mod.py"}
    assert change_summary(repo.root).components == ("new", "old")


@pytest.mark.parametrize(
    "message, kind",
    [
        ("feat: add export", "feature"),
        ("feat(api): add export", "feature"),
        ("fix: off by one", "fix"),
        ("fix(api)!: drop v1 endpoints", "breaking"),
        ("feat!: new config format", "breaking"),
        ("refactor(core)!: rename module", "breaking"),
        ("feat: new auth\n\nBREAKING CHANGE: tokens from 1.x are invalid", "breaking"),
        ("fix: parser\n\nBREAKING-CHANGE: stricter input", "breaking"),
        ("security: rotate signing keys", "security"),
        ("fix(security): escape user names", "security"),
        ("fix: escape user names\n\nSecurity: XSS in profile page", "security"),
        ("fix: bump openssl for CVE-2024-5535", "security"),
        ("chore(deps): bump lib\n\nFixes CVE-2023-44487.", "security"),
        ("fix(security)!: refuse weak ciphers", "breaking"),
        ("docs: typo", "other"),
        ("Update README", "other"),
        ("feature request: later", "other"),
        ("Revert \"feat: x\"", "other"),
    ],
)
def test_kind_from_conventional_commits(repo, message, kind):
    repo.commit(message, {"f.txt": message})

    (commit,) = change_summary(repo.root).commits

    assert commit.kind == kind


def test_tickets_from_subject_and_body(repo):
    repo.commit("feat(PAY-12): card payments", {"a/1": "1"})
    repo.commit("fix: rounding\n\nRefs: PAY-3, OPS-101\nSee CVE-2024-1234 and UTF-8 handling", {"a/2": "2"})
    repo.commit("fix: more rounding for PAY-3", {"a/3": "3"})

    summary = change_summary(repo.root)

    assert summary.tickets == ("OPS-101", "PAY-3", "PAY-12")
    assert summary.commits[1].tickets == ("PAY-3", "OPS-101")


def test_a_custom_ticket_pattern(repo):
    repo.commit("fix: crash (#42), see also #7", {"a/1": "1"})

    summary = change_summary(repo.root, ticket_pattern=r"#\d+")
    grouped = change_summary(repo.root, ticket_pattern=r"(#)(\d+)")

    assert summary.tickets == ("#7", "#42")
    assert grouped.tickets == ("#7", "#42")  # a pattern's groups do not cut the key short


def test_cross_reference_with_implementation_reports(repo):
    reports = repo.root / "_docs" / "03_implementation"
    reports.mkdir(parents=True)
    (reports / "batch_01_report.md").write_text("# Batch 1\nImplemented PAY-12 in the api component.\n")
    (reports / "batch_02_report.md").write_text("# Batch 2\nPAY-120 and nothing else\n")
    (reports / "nested").mkdir()
    (reports / "nested" / "notes.md").write_text("Follow-up for PAY-12\n")
    repo.commit("chore: base", {"README.md": "1"})
    repo.tag("release/v1")
    repo.commit("feat(api): payments PAY-12", {"api/pay.py": "1"})
    repo.commit("fix(web): footer WEB-4", {"web/footer.js": "1"})

    summary = change_summary(repo.root, implementation_reports=Path("_docs/03_implementation"))

    assert summary.tickets == ("PAY-12", "WEB-4")
    assert dict(summary.reports) == {"PAY-12": ("batch_01_report.md", "nested/notes.md")}
    assert summary.tickets_without_report == ("WEB-4",)
    assert dict(summary.component_reports) == {"api": ("batch_01_report.md",)}


def test_no_reports_folder_means_no_cross_reference(repo):
    repo.commit("feat: x PAY-1", {"a/1": "1"})

    summary = change_summary(repo.root, implementation_reports=repo.root / "missing")

    assert dict(summary.reports) == {}
    assert summary.tickets_without_report == ()


def test_messages_with_control_characters_and_sha_like_paths_parse(repo):
    first = repo.commit("feat: base", {"a/1": "1"})
    weird = "fix: odd \x1e record \x1f unit\n\nbody with \x1e too"
    repo.commit(weird, {first: "a file named like a sha", "a/2": "2"})

    summary = change_summary(repo.root)

    assert summary.commits[0].subject == "fix: odd \x1e record \x1f unit"
    assert set(summary.commits[0].paths) == {first, "a/2"}
    assert summary.commits[1].paths == ("a/1",)


def test_an_empty_range_is_an_empty_summary(repo):
    repo.commit("feat: x", {"a/1": "1"})
    repo.tag("release/v1")

    summary = change_summary(repo.root)

    assert isinstance(summary, ChangeSummary)
    assert (summary.base, summary.commits, summary.tickets, summary.components) == ("release/v1", (), (), ())


def test_not_a_repository(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()

    with pytest.raises(GitError, match=f"{plain} is not a git repository"):
        change_summary(plain)
    with pytest.raises(GitError, match="no such directory"):
        head_sha(tmp_path / "absent")


def test_a_repository_without_commits(repo):
    with pytest.raises(GitError, match="has no commits yet"):
        change_summary(repo.root)


def test_git_not_installed(repo, tmp_path, monkeypatch):
    repo.commit("feat: x", {"a/1": "1"})
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))

    with pytest.raises(GitError, match="git is not installed"):
        head_sha(repo.root)


def test_create_an_annotated_tag_and_push_it(repo, tmp_path):
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(remote)], check=True)
    repo.git("remote", "add", "origin", str(remote))
    head = repo.commit("feat: ship it", {"a/1": "1"})

    tag_sha = create_tag(repo.root, "release/v2.0.0", "Release v2.0.0 to production\n\nVerdict: Released", push=True)

    assert repo.git("cat-file", "-t", "release/v2.0.0").strip() == "tag"
    assert repo.git("rev-parse", "release/v2.0.0^{commit}").strip() == head
    assert repo.git("rev-parse", "release/v2.0.0").strip() == tag_sha
    assert "Verdict: Released" in repo.git("tag", "-l", "--format=%(contents)", "release/v2.0.0")
    remote_tags = subprocess.run(
        ["git", "-C", str(remote), "for-each-ref", "--format=%(objectname) %(refname)", "refs/tags"],
        check=True, capture_output=True, text=True,
    ).stdout
    assert remote_tags.strip() == f"{tag_sha} refs/tags/release/v2.0.0"
    assert last_release_tag(repo.root) == "release/v2.0.0"


def test_create_tag_without_push_leaves_the_remote_alone(repo):
    repo.commit("feat: x", {"a/1": "1"})

    create_tag(repo.root, "release/v1", "msg", push=False, remote="does-not-exist")

    assert repo.git("tag", "-l").split() == ["release/v1"]


@pytest.mark.parametrize(
    "name", ["", "-f", "release/v1..2", "release v1", "release/v1.lock", "release/", "rel~1", "a:b", "x\ny"]
)
def test_invalid_tag_names_are_refused(repo, name):
    repo.commit("feat: x", {"a/1": "1"})

    with pytest.raises(GitError, match="invalid tag name"):
        create_tag(repo.root, name, "msg")

    assert repo.git("tag", "-l") == ""


def test_an_existing_tag_is_not_overwritten(repo):
    repo.commit("feat: x", {"a/1": "1"})
    create_tag(repo.root, "release/v1", "first")
    repo.commit("feat: y", {"a/2": "2"})

    with pytest.raises(GitError, match="already exists"):
        create_tag(repo.root, "release/v1", "second")


def test_a_failed_push_is_a_git_error(repo):
    repo.commit("feat: x", {"a/1": "1"})

    with pytest.raises(GitError, match="git push failed"):
        create_tag(repo.root, "release/v1", "msg", push=True, remote="nowhere")


def test_a_shallow_clone_is_flagged(repo, tmp_path):
    repo.commit("feat: one", {"a/1": "1"})
    repo.tag("release/v1")
    repo.commit("feat: two", {"a/2": "2"})
    clone = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "--quiet", "--depth=1", "--no-tags", f"file://{repo.root}", str(clone)],
        check=True,
    )

    summary = change_summary(clone)

    assert summary.shallow
    assert summary.base is None  # the tag was not fetched: the range cannot be trusted
    assert not change_summary(repo.root).shallow


def test_git_environment_pointing_elsewhere_is_ignored(repo, tmp_path, monkeypatch):
    head = repo.commit("feat: here", {"a/1": "1"})
    other = Repo(tmp_path / "other")
    other.commit("feat: elsewhere", {"b/1": "1"})
    monkeypatch.setenv("GIT_DIR", str(other.root / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(other.root))

    assert head_sha(repo.root) == head


def test_paths_limit_the_summary_to_a_service_inside_a_monorepo(repo):
    repo.commit("feat: api SHOP-1", {"services/api/app.py": "1"})
    repo.commit("feat: web SHOP-2", {"services/web/app.js": "1"})
    repo.commit("fix: both SHOP-3", {"services/api/x.py": "2", "services/web/y.js": "2"})

    summary = change_summary(repo.root / "services" / "api", paths=["."])

    assert subjects(summary.commits) == ["fix: both SHOP-3", "feat: api SHOP-1"]
    assert summary.tickets == ("SHOP-1", "SHOP-3")
    assert summary.commits[0].paths == ("services/api/x.py",)  # paths stay relative to the top level
    assert summary.components == ("services",)
    with pytest.raises(GitError, match="invalid path"):
        change_summary(repo.root, paths=["--all"])


def test_commit_tag_and_file_times(repo):
    def at(seconds: int) -> datetime:
        return datetime.fromtimestamp(seconds, timezone.utc)

    repo.commit("one", {"perf_1.md": "p99 80ms"})
    committed = repo.clock - 60  # the Repo clock ticks on every git call; rev-parse came last
    repo.tag("release/v1")
    tagged = repo.clock
    repo.commit("two", {"other.txt": "x"})
    head = repo.clock - 60

    assert commit_time(repo.root) == at(head)
    assert commit_time(repo.root, "release/v1") == at(committed)
    assert tag_time(repo.root, "release/v1") == at(tagged)
    assert tag_time(repo.root, "release/none") is None
    assert file_commit_time(repo.root, repo.root / "perf_1.md") == at(committed)
    (repo.root / "perf_1.md").write_text("p99 70ms")  # modified: its own mtime is the truth
    assert file_commit_time(repo.root, repo.root / "perf_1.md") is None
    (repo.root / "perf_2.md").write_text("new")  # untracked
    assert file_commit_time(repo.root, repo.root / "perf_2.md") is None
    assert file_commit_time(repo.root.parent, repo.root.parent / "nowhere.md") is None  # not a repository
