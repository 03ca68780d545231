"""What changed since the last release, read from git, and the release tag written at the end.

git is run as a subprocess with argv lists (never a shell string), always as `git -C root`,
with a fixed locale so its messages can be recognised. Commit metadata is read with NUL
separators, which git never lets into names or messages, so no commit message can break the
parsing.
"""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

__all__ = [
    "DEFAULT_TICKET_PATTERN",
    "ChangeSummary",
    "Commit",
    "GitError",
    "change_summary",
    "commit_time",
    "commit_times",
    "create_tag",
    "file_commit_time",
    "head_sha",
    "last_release_tag",
    "tag_time",
]

# Jira-style keys (PROJ-123). Identifiers that look the same but are not tickets are left out.
DEFAULT_TICKET_PATTERN = r"\b(?!(?:CVE|CWE|UTF|SHA|ISO|RFC)-\d)[A-Z][A-Z0-9]+-\d+\b"
ROOT_COMPONENT = "(root)"
KINDS = ("breaking", "security", "feature", "fix", "other")

_CONVENTIONAL = re.compile(
    r"(?P<type>[A-Za-z]+)(?:\((?P<scope>[^()\n]*)\))?(?P<bang>!)?:\s"
)
_BREAKING_FOOTER = re.compile(r"^BREAKING[ -]CHANGE:", re.MULTILINE)
_SECURITY_TRAILER = re.compile(r"^Security:", re.MULTILINE | re.IGNORECASE)
_CVE = re.compile(r"\bCVE-\d{4}-\d{4,}\b")
_FEATURE_TYPES = {"feat", "feature"}
_FIX_TYPES = {"fix", "bugfix", "hotfix"}
_SECURITY_WORDS = {"security", "sec"}
_REPORT_SIZE_LIMIT = 5 << 20


class GitError(Exception):
    """git could not answer: not installed, not a repository, bad tag name, failed command."""


@dataclass(frozen=True)
class Commit:
    sha: str
    subject: str
    body: str
    author: str
    paths: tuple[str, ...]
    kind: str  # "feature" | "fix" | "breaking" | "security" | "other"
    tickets: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChangeSummary:
    """The release scope: commits since the last release tag, by component and by kind.

    `commits` are newest first (git log order). `reports` maps each ticket in scope to the
    implementation report files (relative to the reports folder) that mention it;
    `component_reports` does the same for component names; `tickets_without_report` lists the
    tickets in scope that no report mentions. All three are empty when no reports folder was
    given or it does not exist. `shallow` warns that the clone is shallow (a common CI default):
    the last release tag or older commits may be missing, so the range may be wrong.
    """

    base: str | None
    head_sha: str
    commits: tuple[Commit, ...]
    by_component: Mapping[str, Mapping[str, tuple[Commit, ...]]]
    tickets: tuple[str, ...]
    components: tuple[str, ...]
    reports: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: types.MappingProxyType({})
    )
    component_reports: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: types.MappingProxyType({})
    )
    tickets_without_report: tuple[str, ...] = ()
    shallow: bool = False

    def of_kind(self, kind: str) -> tuple[Commit, ...]:
        return tuple(commit for commit in self.commits if commit.kind == kind)


def head_sha(root: Path) -> str:
    """The full sha of HEAD. GitError when the repository has no commit yet."""
    try:
        return _git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}").strip()
    except GitError as exc:
        if "no commits" in str(exc) or "exit status 1" in str(exc):
            raise GitError(f"{root}: the repository has no commits yet") from None
        raise


def last_release_tag(root: Path, pattern: str = "release/*") -> str | None:
    """The most recently created tag matching `pattern` that HEAD contains, or None.

    Tags are ordered by creation date (the tagger date of an annotated tag, the commit date of
    a lightweight one), ties broken by version order of the name.
    """
    head_sha(root)
    output = _git(
        root,
        "for-each-ref",
        "--merged=HEAD",
        "--sort=-v:refname",
        "--sort=-creatordate",
        "--format=%(refname)",
        f"refs/tags/{pattern}",
    )
    for ref in output.splitlines():
        if ref.startswith("refs/tags/"):
            return ref[len("refs/tags/") :]
    return None


def change_summary(
    root: Path,
    *,
    tag_pattern: str = "release/*",
    components: Mapping[str, str] | None = None,
    ticket_pattern: str = DEFAULT_TICKET_PATTERN,
    implementation_reports: Path | None = None,
    paths: Iterable[str] = (),
) -> ChangeSummary:
    """Commits from the last release tag (or the root commit) to HEAD, classified.

    `components` maps a path prefix (`services/api`) or glob (`*/migrations/*`) to a component
    name; the most specific match wins. A path no entry matches, or every path when no map is
    given, belongs to its top-level directory (files at the top level: "(root)"). A commit
    touching two components is listed under both. Merge commits are left out: their changes
    are already in the commits they merge.

    `paths` (git pathspecs, relative to `root`) limits the summary to commits touching them: a
    service released from a monorepo (`paths=["."]` with `root` its directory). Component paths
    stay relative to the repository's top level, as git prints them.
    """
    root = Path(root)
    head = head_sha(root)
    base = last_release_tag(root, tag_pattern)
    tickets_re = re.compile(ticket_pattern)
    revision = f"refs/tags/{base}..{head}" if base else head
    pathspecs = [p for p in paths]
    for spec in pathspecs:
        if not spec or spec.startswith("-"):
            raise GitError(f"invalid path {spec!r} for the change summary")
    commits = _read_commits(root, revision, tickets_re, pathspecs)

    grouped: dict[str, dict[str, list[Commit]]] = {}
    for commit in reversed(commits):  # oldest first, so that insertion order is stable
        for component in dict.fromkeys(_component(path, components) for path in commit.paths):
            grouped.setdefault(component, {}).setdefault(commit.kind, []).insert(0, commit)
    by_component = types.MappingProxyType(
        {
            name: types.MappingProxyType(
                {kind: tuple(kinds[kind]) for kind in KINDS if kind in kinds}
            )
            for name, kinds in sorted(grouped.items())
        }
    )
    tickets = tuple(
        sorted({t for c in commits for t in c.tickets}, key=_ticket_order)
    )
    component_names = tuple(by_component)

    reports: dict[str, tuple[str, ...]] = {}
    component_reports: dict[str, tuple[str, ...]] = {}
    without: tuple[str, ...] = ()
    if implementation_reports is not None:
        folder = Path(implementation_reports)
        if not folder.is_absolute():
            folder = root / folder
        if folder.is_dir():
            reports, component_reports = _cross_reference(folder, tickets, component_names)
            without = tuple(t for t in tickets if t not in reports)

    shallow = _git(root, "rev-parse", "--is-shallow-repository").strip() == "true"
    return ChangeSummary(
        base=base,
        head_sha=head,
        commits=tuple(commits),
        by_component=by_component,
        tickets=tickets,
        components=component_names,
        reports=types.MappingProxyType(reports),
        component_reports=types.MappingProxyType(component_reports),
        tickets_without_report=without,
        shallow=shallow,
    )


def commit_time(root: Path, revision: str = "HEAD") -> datetime:
    """When `revision` was committed (the committer date, UTC)."""
    output = _git(root, "log", "-1", "--format=%ct", revision, "--").strip()
    if not output.isdigit():
        raise GitError(f"{root}: no commit time for {revision}")
    return datetime.fromtimestamp(int(output), timezone.utc)


def commit_times(root: Path, shas: Iterable[str]) -> dict[str, datetime]:
    """When each of `shas` was committed (committer date, UTC), in one git call; a sha git does
    not know is left out (a shallow clone, a rewritten history)."""
    wanted = [sha for sha in shas if re.fullmatch(r"[0-9a-f]{7,64}", sha)]
    if not wanted:
        return {}
    try:
        output = _git(root, "show", "-s", "--no-patch", "--format=%H %ct", *wanted)
    except GitError:
        return {}
    times = {}
    for line in output.splitlines():
        sha, _, stamp = line.strip().partition(" ")
        if stamp.isdigit():
            times[sha] = datetime.fromtimestamp(int(stamp), timezone.utc)
    return times


def tag_time(root: Path, tag: str) -> datetime | None:
    """When the tag was made: the tagger date of an annotated tag, the commit date otherwise."""
    output = _git(root, "for-each-ref", "--format=%(creatordate:unix)", f"refs/tags/{tag}").strip()
    first = output.splitlines()[0] if output else ""
    return datetime.fromtimestamp(int(first), timezone.utc) if first.isdigit() else None


def file_commit_time(root: Path, path: Path) -> datetime | None:
    """The time of the last commit that changed `path`, if it is tracked and unchanged since.

    A checked-out file's modification time is the time of the checkout, which says nothing
    about when its content was written; a committed, unmodified file is as old as its commit.
    None for an untracked or locally modified file (its modification time is then the truth)."""
    try:
        status = _git(root, "status", "--porcelain", "--untracked-files=all", "--", os.fspath(path))
        if status.strip():
            return None
        output = _git(root, "log", "-1", "--format=%ct", "--", os.fspath(path)).strip()
    except GitError:
        return None
    return datetime.fromtimestamp(int(output), timezone.utc) if output.isdigit() else None


def create_tag(
    root: Path,
    name: str,
    message: str,
    push: bool = False,
    remote: str = "origin",
    *,
    push_timeout: float = 300.0,
) -> str:
    """Create the annotated release tag `name` on HEAD (and push it); returns the tag's sha."""
    if not name or name.startswith("-"):
        raise GitError(f"invalid tag name {name!r}")
    try:
        _git(root, "check-ref-format", f"refs/tags/{name}")
    except GitError:
        raise GitError(
            f"invalid tag name {name!r}: git check-ref-format refuses refs/tags/{name}"
        ) from None
    if push and (not remote or remote.startswith("-")):
        raise GitError(f"invalid remote name {remote!r}")
    head_sha(root)
    _git(root, "tag", "--annotate", f"--message={message}", "--", name, "HEAD")
    tag_sha = _git(root, "rev-parse", "--verify", f"refs/tags/{name}").strip()
    if push:
        _git(root, "push", "--quiet", "--", remote, f"refs/tags/{name}", timeout=push_timeout)
    return tag_sha


def _read_commits(
    root: Path, revision: str, tickets_re: re.Pattern[str], pathspecs: list[str] | None = None
) -> list[Commit]:
    """Commit metadata and changed paths, in two NUL-separated git log runs."""
    pathspecs = pathspecs or []
    metadata = _git(
        root, "log", "-z", "--no-merges", "--format=%H%x00%an <%ae>%x00%s%x00%b", revision, "--",
        *pathspecs,
    )
    fields = metadata.split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    if len(fields) % 4:
        raise GitError(f"{root}: unexpected git log output ({len(fields)} fields)")
    records = [fields[i : i + 4] for i in range(0, len(fields), 4)]
    paths = _read_paths(root, revision, [record[0] for record in records], pathspecs)

    commits = []
    for sha, author, subject, body in records:
        message = f"{subject}\n\n{body}"
        commits.append(
            Commit(
                sha=sha,
                subject=subject,
                body=body.strip(),
                author=author,
                paths=paths.get(sha, ()),
                kind=_kind(subject, body),
                tickets=tuple(dict.fromkeys(m.group(0) for m in tickets_re.finditer(message))),
            )
        )
    return commits


def _read_paths(
    root: Path, revision: str, shas: list[str], pathspecs: list[str] | None = None
) -> dict[str, tuple[str, ...]]:
    output = _git(
        root, "log", "-z", "--no-merges", "--no-renames", "--format=%H", "--name-only",
        revision, "--", *(pathspecs or []),
    )
    expected = iter(shas)
    paths: dict[str, list[str]] = {}
    current: list[str] | None = None
    next_sha = next(expected, None)
    for token in output.split("\0"):
        if token == next_sha:
            current = paths.setdefault(token, [])
            next_sha = next(expected, None)
            continue
        token = token.lstrip("\n")
        if token and current is not None:
            current.append(token)
    return {sha: tuple(dict.fromkeys(found)) for sha, found in paths.items()}


def _kind(subject: str, body: str) -> str:
    match = _CONVENTIONAL.match(subject)
    kind_type = match.group("type").lower() if match else ""
    scope = (match.group("scope") or "").strip().lower() if match else ""
    if (match and match.group("bang")) or _BREAKING_FOOTER.search(body):
        return "breaking"
    scopes = {part.strip() for part in re.split(r"[,/ ]", scope)}
    if (
        kind_type in _SECURITY_WORDS
        or (kind_type in _FIX_TYPES | _FEATURE_TYPES and scopes & _SECURITY_WORDS)
        or _SECURITY_TRAILER.search(body)
        or _CVE.search(subject)
        or _CVE.search(body)
    ):
        return "security"
    if kind_type in _FEATURE_TYPES:
        return "feature"
    if kind_type in _FIX_TYPES:
        return "fix"
    return "other"


def _component(path: str, components: Mapping[str, str] | None) -> str:
    if components:
        best: tuple[int, str] | None = None
        for key, name in components.items():
            if _path_matches(path, key) and (best is None or len(key) > best[0]):
                best = (len(key), name)
        if best:
            return best[1]
    return path.split("/", 1)[0] if "/" in path else ROOT_COMPONENT


def _path_matches(path: str, key: str) -> bool:
    if any(char in key for char in "*?["):
        return fnmatch.fnmatchcase(path, key)
    prefix = key.strip("/")
    return path == prefix or path.startswith(prefix + "/")


def _ticket_order(ticket: str) -> tuple[str, int, str]:
    """PROJ-2 before PROJ-10."""
    match = re.match(r"(.*?)(\d+)\D*\Z", ticket)
    return (match.group(1), int(match.group(2)), ticket) if match else (ticket, 0, ticket)


def _cross_reference(
    folder: Path, tickets: Iterable[str], components: Iterable[str]
) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    tickets, components = list(tickets), list(components)
    by_ticket: dict[str, list[str]] = {}
    by_component: dict[str, list[str]] = {}
    component_res = {
        name: re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])", re.IGNORECASE)
        for name in components
        if name != ROOT_COMPONENT
    }
    for report in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            if report.stat().st_size > _REPORT_SIZE_LIMIT:
                continue
            text = report.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        relative = report.relative_to(folder).as_posix()
        for ticket in tickets:
            if re.search(rf"(?<![\w-]){re.escape(ticket)}(?!\d)", text):
                by_ticket.setdefault(ticket, []).append(relative)
        for name, pattern in component_res.items():
            if pattern.search(text):
                by_component.setdefault(name, []).append(relative)
    return (
        {t: tuple(files) for t, files in by_ticket.items()},
        {c: tuple(files) for c, files in by_component.items()},
    )


# Variables that would point git at another repository than `root`.
_REPOSITORY_ENV = (
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE", "GIT_COMMON_DIR",
)


def _git(root: Path, *args: str, timeout: float | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k not in _REPOSITORY_ENV}
    env.update(LC_ALL="C", LANGUAGE="C", GIT_TERMINAL_PROMPT="0")
    argv = ["git", "-C", os.fspath(root), *args]
    try:
        completed = subprocess.run(
            argv, capture_output=True, env=env, check=False, stdin=subprocess.DEVNULL,
            timeout=timeout,
        )
    except FileNotFoundError:
        raise GitError(
            "git is not installed (no `git` on PATH): install git to read the change summary"
        ) from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} in {root} did not finish within {timeout:g} s") from None
    stdout = completed.stdout.decode("utf-8", errors="replace")
    if completed.returncode == 0:
        return stdout
    stderr = completed.stderr.decode("utf-8", errors="replace").strip()
    if "not a git repository" in stderr:
        raise GitError(f"{root} is not a git repository (or any parent up to the mount point)")
    if "cannot change to" in stderr:
        raise GitError(f"{root}: no such directory")
    if "dubious ownership" in stderr:
        raise GitError(
            f"{root}: git refuses a repository owned by another user; if it is trusted, run "
            f"`git config --global --add safe.directory {root}`"
        )
    if "does not have any commits" in stderr or ("unknown revision" in stderr and "HEAD" in stderr):
        raise GitError(f"{root}: the repository has no commits yet")
    detail = stderr.splitlines()[-1] if stderr else f"exit status {completed.returncode}"
    raise GitError(f"git {args[0]} failed in {root}: {detail}")
