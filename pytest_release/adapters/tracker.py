"""The issue tracker: what state the tickets of a release are in, and moving them on.

The gate refuses a release while a ticket in its scope is still being worked on (the runbook's
"move-and-deploy is not allowed"); phase 6 moves the tickets to Released, or back to Ready for
Release after a rollback. Two backends:

- `file`: a YAML file mapping ticket keys to statuses (`_docs/tracker.yaml`, the embedded
  default). A move rewrites the file atomically and keeps its comments.
- `jira`: Jira's REST API v2 over requests (`GET /rest/api/2/issue/{key}?fields=status`, and
  `GET`/`POST /rest/api/2/issue/{key}/transitions`). Credentials come from the environment only:
  `<PREFIX>_USERNAME` + `<PREFIX>_TOKEN` (Jira Cloud: e-mail and API token, sent as Basic) or
  `<PREFIX>_TOKEN` alone (Data Center personal access token, sent as Bearer); the prefix is
  `RELEASE_TRACKER` unless `tracker.credentials_env` says otherwise.

Every failure is a TrackerError whose `kind` says which (unauthorized, unreachable, unknown,
refused, invalid) and whose message says what to do. Secrets never appear in a message."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Protocol
from urllib.parse import urlsplit

import requests
import yaml

from pytest_release.report.document import write_atomically

if TYPE_CHECKING:
    from pytest_release.config import Config, TrackerSettings

__all__ = ["FileTracker", "JiraTracker", "Tracker", "TrackerError", "tracker_for", "DEFAULT_TRACKER_FILE"]

DEFAULT_TRACKER_FILE = "_docs/tracker.yaml"
# Jira issue keys: a project key (letters, digits, '_'; a letter first) and a number.
_JIRA_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]*-[0-9]+")


class TrackerError(Exception):
    """The tracker could not answer or refused; `kind` is one of KINDS."""

    KINDS = ("unauthorized", "unreachable", "unknown", "refused", "invalid")

    def __init__(self, message: str, kind: str, key: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.key = key

    @property
    def stops_release(self) -> bool:
        """Unauthorized or unreachable: nothing about any ticket can be trusted."""
        return self.kind in ("unauthorized", "unreachable", "invalid")


class Tracker(Protocol):
    def status(self, key: str) -> str:
        """The ticket's current status name, e.g. "In Progress" or "Ready for Release"."""

    def move(self, key: str, status: str) -> None:
        """Move the ticket to `status` (a no-op when it is there already); raises TrackerError."""


# --- the file backend ------------------------------------------------------------------------
class FileTracker:
    """Ticket statuses in a YAML file: `KEY: Status` per line, or `KEY: {status: ..., ...}`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.name = f"file tracker {self.path}"

    def _load(self) -> dict[str, Any]:

        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise TrackerError(
                f"the tracker file {self.path} does not exist: create it (one `KEY: Status` line per "
                "ticket) or point tracker.path at it",
                "unreachable",
            ) from None
        except OSError as exc:
            raise TrackerError(f"cannot read the tracker file {self.path}: {exc.strerror}", "unreachable") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}" if mark else ""
            raise TrackerError(f"{self.path}{where}: not valid YAML; fix the tracker file", "invalid") from None
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise TrackerError(f"{self.path}: expected a mapping of ticket keys to statuses", "invalid")
        return {str(k): v for k, v in data.items()}

    def status(self, key: str) -> str:
        entry = self._load().get(key)
        if entry is None:
            raise TrackerError(
                f"ticket {key} is not in {self.path}: add it with its status, or exclude it from the "
                "release scope if it is not a ticket",
                "unknown",
                key,
            )
        value = entry.get("status") if isinstance(entry, dict) else entry
        if not isinstance(value, (str, int, float)) or isinstance(value, bool) or not str(value).strip():
            raise TrackerError(f"{self.path}: ticket {key} has no status (expected `{key}: Status`)", "invalid", key)
        return str(value).strip()

    def move(self, key: str, status: str) -> None:
        current = self.status(key)  # unknown or unreadable: raise before writing anything
        if current == status:
            return
        text = self.path.read_text(encoding="utf-8")
        line = re.compile(rf"^(?P<key>['\"]?{re.escape(key)}['\"]?\s*:[ \t]*)(?P<value>[^#\n{{\[]*?)(?P<rest>[ \t]+#.*)?$", re.M)
        match = line.search(text)
        if match and match.group("value").strip():
            new = text[: match.start("value")] + _yaml_scalar(status) + text[match.end("value") :]
        else:  # the mapping form, or an unusual layout: rewrite the whole document

            data = self._load()
            entry = data[key]
            data[key] = {**entry, "status": status} if isinstance(entry, dict) else status
            new = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)

        write_atomically(self.path, new)  # mkstemp + rename: a planted .tracker.yaml.tmp link is never followed


def _yaml_scalar(value: str) -> str:
    """A status as a YAML scalar: plain when safe, quoted when it would parse as something else."""

    plain = value.strip()
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9 _.()/-]*", plain) and yaml.safe_load(plain) == plain:
        return plain
    return '"' + plain.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- the Jira backend ------------------------------------------------------------------------
class JiraTracker:
    """Jira Cloud or Data Center through REST API v2."""

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        token: str | None = None,
        timeout: float = 10.0,
        verify_tls: bool = True,
        credentials_env: str = "RELEASE_TRACKER",
    ) -> None:

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TrackerError(f"tracker.url {url!r} is not an http(s) URL", "invalid")
        if parts.username or parts.password:
            raise TrackerError("tracker.url must not carry credentials: pass them through the environment", "invalid")
        self.url = url.rstrip("/")
        self.name = f"Jira at {self.url}"
        self.timeout = timeout
        self._username = username or None
        self._token = token or None
        self._env = credentials_env
        self._verify = verify_tls
        self._session: Any = None

    @classmethod
    def from_environment(cls, url: str, environ: Mapping[str, str], prefix: str = "RELEASE_TRACKER", **options: Any) -> "JiraTracker":
        return cls(
            url, username=environ.get(f"{prefix}_USERNAME"), token=environ.get(f"{prefix}_TOKEN"),
            credentials_env=prefix, **options,
        )

    def __repr__(self) -> str:
        auth = "basic" if self._username and self._token else "bearer" if self._token else "anonymous"
        return f"JiraTracker({self.url!r}, credentials={auth})"

    def status(self, key: str) -> str:
        self._check_key(key)
        response = self._request("GET", f"/rest/api/2/issue/{key}", key, params={"fields": "status"})
        try:
            return str(response.json()["fields"]["status"]["name"])
        except (ValueError, KeyError, TypeError):
            raise TrackerError(f"{self.name} answered GET issue {key} without fields.status.name", "unreachable", key) from None

    def move(self, key: str, status: str) -> None:
        current = self.status(key)
        if current.casefold() == status.casefold():
            return
        response = self._request("GET", f"/rest/api/2/issue/{key}/transitions", key)
        try:
            transitions = response.json()["transitions"]
        except (ValueError, KeyError, TypeError):
            raise TrackerError(f"{self.name} answered GET transitions of {key} without a transitions list", "unreachable", key) from None
        wanted = status.casefold()
        chosen = next((t for t in transitions if str((t.get("to") or {}).get("name", "")).casefold() == wanted), None)
        if chosen is None:
            chosen = next((t for t in transitions if str(t.get("name", "")).casefold() == wanted), None)
        if chosen is None:
            available = ", ".join(sorted({str((t.get("to") or {}).get("name", t.get("name"))) for t in transitions})) or "none"
            raise TrackerError(
                f"{key} cannot move from {current!r} to {status!r} in {self.name}: the workflow offers "
                f"only {available}; move it by hand or fix the workflow",
                "refused",
                key,
            )
        self._request("POST", f"/rest/api/2/issue/{key}/transitions", key, json={"transition": {"id": str(chosen["id"])}})

    # internals
    def _check_key(self, key: str) -> None:
        if not isinstance(key, str) or not _JIRA_KEY.fullmatch(key):
            raise TrackerError(f"{key!r} is not a Jira issue key (like PROJ-123)", "unknown", key if isinstance(key, str) else None)

    def _session_for(self) -> Any:
        if self._session is None:

            session = requests.Session()
            session.trust_env = False  # no proxy or netrc credentials picked up silently
            session.verify = self._verify
            session.headers.update({"Accept": "application/json", "User-Agent": "pytest-release"})
            if self._username and self._token:
                session.auth = (self._username, self._token)
            elif self._token:
                session.headers["Authorization"] = f"Bearer {self._token}"
            self._session = session
        return self._session

    def _request(self, method: str, path: str, key: str, **kwargs: Any) -> Any:

        url = self.url + path
        try:
            response = self._session_for().request(method, url, timeout=self.timeout, **kwargs)
        except requests.Timeout:
            raise TrackerError(f"{self.name} did not answer within {self.timeout:g}s: check the network or tracker.timeout, then re-run", "unreachable", key) from None
        except requests.RequestException as exc:
            reason = "connection refused" if "refused" in str(exc).lower() else type(exc).__name__
            raise TrackerError(f"{self.name} is unreachable ({reason}): check tracker.url and the network, then re-run", "unreachable", key) from None
        status = response.status_code
        if status in (200, 201, 204):
            return response
        detail = _jira_messages(response)
        if status in (401, 403):
            env = self._env
            have = "no credentials were set" if not self._token else "the credentials were refused"
            raise TrackerError(
                f"{self.name} answered HTTP {status} ({have}): set {env}_USERNAME and {env}_TOKEN (an API token), "
                f"or {env}_TOKEN alone (a personal access token), with permission to see and transition {key}",
                "unauthorized",
                key,
            )
        if status == 404:
            raise TrackerError(
                f"ticket {key} does not exist in {self.name} (or these credentials cannot see it){': ' + detail if detail else ''}; "
                "exclude it from the release scope if it is not a ticket",
                "unknown",
                key,
            )
        if status == 400:
            raise TrackerError(f"{self.name} refused {method} {path}: {detail or 'HTTP 400'}", "refused", key)
        raise TrackerError(f"{self.name} answered HTTP {status} to {method} {path}{': ' + detail if detail else ''}; try again later", "unreachable", key)


def _jira_messages(response: Any) -> str:
    """Jira's error body: {"errorMessages": [...], "errors": {field: message}}."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    messages = [str(m) for m in body.get("errorMessages") or []]
    errors = body.get("errors") or {}
    if isinstance(errors, dict):
        messages += [f"{k}: {v}" for k, v in errors.items()]
    return "; ".join(messages)[:300]


# --- from release.yaml -----------------------------------------------------------------------
def tracker_for(
    release: Any = None,
    config: "Config | None" = None,
    env: Any = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Tracker | None:
    """The project's tracker, from release.yaml's `tracker:`; None when there is none.

    Pass the release in progress (the `release` fixture) or a Config, positionally or by name
    (`env` is accepted and ignored: one tracker serves every environment). Without a
    `tracker:` section, `_docs/tracker.yaml` is used when it exists (the embedded default);
    otherwise there is no tracker. Credentials are read from `environ` (default os.environ)."""
    if release is not None and hasattr(release, "config") and hasattr(release, "env"):
        config = release.config
    elif release is not None:
        config = release  # a Config passed positionally
    if config is None:
        raise TypeError("tracker_for needs the release in progress or a Config")
    return tracker_from_settings(getattr(config, "tracker", None), config.root, os.environ if environ is None else environ)


def tracker_from_settings(settings: "TrackerSettings | None", root: Path, environ: Mapping[str, str]) -> Tracker | None:
    """A tracker from its settings; the file backend's relative path is taken from `root`."""
    if settings is None:
        default = Path(root) / DEFAULT_TRACKER_FILE
        return FileTracker(default) if default.is_file() else None
    if settings.backend == "file":
        path = Path(settings.path)
        return FileTracker(path if path.is_absolute() else Path(root) / path)
    if settings.backend == "jira":
        if not settings.url:
            raise TrackerError("tracker.url is required for the jira backend", "invalid")
        return JiraTracker.from_environment(
            settings.url, environ, settings.credentials_env, timeout=settings.timeout, verify_tls=settings.verify_tls
        )
    raise TrackerError(f"unknown tracker backend {settings.backend!r} (expected file or jira)", "invalid")
