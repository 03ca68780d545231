"""Is an image still pullable? Asked of the registry through the Docker Registry HTTP API v2.

The rollback plan needs the previous version's image; the gate asks for its manifest (HEAD,
falling back to GET) and never downloads layers. Credentials come from the environment only
(`RELEASE_REGISTRY_USERNAME` / `_PASSWORD` / `_TOKEN`), are sent only in headers, and never
appear in a problem message.

Authentication follows the registry's challenge: `Basic` (htpasswd) is answered with the
username and password; `Bearer` sends them to the token service named in the challenge
(realm, service, scope) and retries once with the token it issues.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

__all__ = [
    "MANIFEST_ACCEPT",
    "ImageCheck",
    "InvalidReference",
    "Registry",
    "RegistryError",
    "parse_challenge",
]

MANIFEST_ACCEPT = (
    "application/vnd.oci.image.index.v1+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json"
)

# The grammar of github.com/distribution/reference (path components, tag, digest).
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*\Z")
_TAG = re.compile(r"[\w][\w.-]{0,127}\Z", re.ASCII)
_DIGEST = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}\Z")
_REPOSITORY_MAX = 255
_CHALLENGE_PARAM = re.compile(r'\s*([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


class RegistryError(Exception):
    """A registry adapter problem that is the caller's fault (bad reference, bad URL)."""


class InvalidReference(RegistryError, ValueError):
    """A repository or tag outside the OCI reference grammar; refused before any request."""


@dataclass(frozen=True)
class ImageCheck:
    reference: str
    exists: bool
    digest: str | None
    problem: str | None  # None when the image exists


class Registry:
    """One registry endpoint, e.g. `https://registry.example.com` or `http://127.0.0.1:5000`."""

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        timeout: float = 10.0,
        verify_tls: bool | str = True,
        credential_hint: str | None = None,
    ) -> None:
        if "://" not in url:
            url = f"https://{url}"
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RegistryError(f"registry URL {url!r} is not an http(s) URL")
        if parts.username or parts.password:
            raise RegistryError(
                "registry URL must not carry credentials: pass them through the environment"
            )
        self.url = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self.host = parts.netloc
        self.timeout = timeout
        self.verify_tls = verify_tls
        self._username = username or None
        self._password = password or None
        self._token = token or None
        self._credential_hint = credential_hint or "the username/password or token given"

    @classmethod
    def from_environment(
        cls,
        url: str,
        environ: Mapping[str, str],
        prefix: str = "RELEASE_REGISTRY",
        **options: object,
    ) -> Registry:
        """A Registry with `<prefix>_USERNAME`, `<prefix>_PASSWORD` and `<prefix>_TOKEN`.

        `_TOKEN` is a ready bearer token, sent as is. A personal access token that the
        registry's token service exchanges (GHCR, Docker Hub) goes in `_PASSWORD` instead.
        """
        names = [f"{prefix}_USERNAME", f"{prefix}_PASSWORD", f"{prefix}_TOKEN"]
        hint = f"{names[0]} and {names[1]}, or {names[2]}"
        username, password, token = (environ.get(name) or None for name in names)
        return cls(
            url,
            username=username,
            password=password,
            token=token,
            credential_hint=hint,
            **options,  # type: ignore[arg-type]
        )

    def __repr__(self) -> str:
        credentials = "token" if self._token else "basic" if self._username else "anonymous"
        return f"Registry({self.url!r}, credentials={credentials})"

    def reference(self, repository: str, tag: str) -> str:
        separator = "@" if _DIGEST.match(tag) else ":"
        return f"{self.host}/{repository}{separator}{tag}"

    def check(self, repository: str, tag: str) -> ImageCheck:
        """Whether `repository:tag` (or `repository@digest`) has a manifest in the registry."""
        validate_reference(repository, tag)
        reference = self.reference(repository, tag)
        url = f"{self.url}/v2/{repository}/manifests/{tag}"
        with requests.Session() as session:
            session.headers["Accept"] = MANIFEST_ACCEPT
            session.headers["User-Agent"] = "pytest-release"
            session.verify = self.verify_tls
            session.trust_env = False  # no proxy or netrc credentials picked up silently
            try:
                response = self._authenticated(session, "HEAD", url, repository)
                if response.status_code in (405, 501) or (
                    response.status_code == 200 and not response.headers.get("Docker-Content-Digest")
                ):
                    response = self._authenticated(session, "GET", url, repository)
            except _AuthProblem as exc:
                return ImageCheck(reference, False, None, self._auth_problem(str(exc)))
            except requests.RequestException as exc:
                return ImageCheck(reference, False, None, f"registry unreachable: {_describe(exc, self.url)}")
        return self._interpret(reference, tag, response)

    # internals

    def _interpret(self, reference: str, tag: str, response: requests.Response) -> ImageCheck:
        status = response.status_code
        if status == 200:
            digest = response.headers.get("Docker-Content-Digest")
            if not digest and _DIGEST.match(tag):
                digest = tag
            if not digest and response.request.method == "GET":
                digest = "sha256:" + hashlib.sha256(response.content).hexdigest()
            return ImageCheck(reference, True, digest, None)
        if status == 404:
            return ImageCheck(reference, False, None, "not found")
        if status in (401, 403):
            detail = "access denied" if status == 403 else "credentials refused"
            return ImageCheck(reference, False, None, self._auth_problem(f"{detail} (HTTP {status})"))
        reason = f"HTTP {status} {response.reason or ''}".strip()
        return ImageCheck(reference, False, None, f"registry error: {reason} from {self.url}")

    def _auth_problem(self, detail: str) -> str:
        return (
            f"authentication failed: check the registry credentials ({self._credential_hint}): "
            f"{detail}"
        )

    def _authenticated(
        self, session: requests.Session, method: str, url: str, repository: str
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        response = session.request(method, url, headers=headers, timeout=self.timeout, allow_redirects=True)
        if response.status_code != 401:
            return response
        challenge = response.headers.get("WWW-Authenticate", "")
        scheme, params = parse_challenge(challenge)
        if scheme == "basic" and self._username is not None:
            auth = (self._username, self._password or "")
            return session.request(method, url, auth=auth, timeout=self.timeout)
        if scheme == "bearer" and "realm" in params and (self._username or not self._token):
            token = self._fetch_token(session, params, repository)
            headers = {"Authorization": f"Bearer {token}"}
            return session.request(method, url, headers=headers, timeout=self.timeout)
        return response

    def _fetch_token(
        self, session: requests.Session, params: Mapping[str, str], repository: str
    ) -> str:
        realm = params["realm"]
        realm_parts = urlsplit(realm)
        if realm_parts.scheme not in ("http", "https"):
            raise _AuthProblem(f"the registry named an unusable token service {realm!r}")
        if realm_parts.scheme == "http" and self.url.startswith("https:") and self._username:
            raise _AuthProblem(
                f"refusing to send credentials in clear text to the token service {realm}"
            )
        query = {"scope": params.get("scope") or f"repository:{repository}:pull"}
        if params.get("service"):
            query["service"] = params["service"]
        auth = (self._username, self._password or "") if self._username else None
        response = session.get(
            realm, params=query, auth=auth, timeout=self.timeout, headers={"Accept": "application/json"}
        )
        if response.status_code in (401, 403):
            raise _AuthProblem(f"the token service refused the credentials (HTTP {response.status_code})")
        if response.status_code != 200:
            raise _AuthProblem(f"the token service answered HTTP {response.status_code}")
        try:
            body = response.json()
            token = body.get("token") or body.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise _AuthProblem("the token service answered without a token")
        return token


class _AuthProblem(Exception):
    pass


def validate_reference(repository: str, tag: str) -> None:
    """Refuse anything outside the OCI grammar: it would otherwise become part of a URL."""
    if (
        not isinstance(repository, str)
        or len(repository) > _REPOSITORY_MAX
        or not _REPOSITORY.match(repository)
    ):
        raise InvalidReference(
            f"invalid repository name {repository!r}: lowercase path components "
            "[a-z0-9] separated by '.', '_', '__' or '-', joined by '/'"
        )
    if not isinstance(tag, str) or not (_TAG.match(tag) or _DIGEST.match(tag)):
        raise InvalidReference(
            f"invalid tag {tag!r}: up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-' "
            "(or a digest such as sha256:<hex>)"
        )


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="...",service="...",scope="..."` -> ("bearer", {realm, service, scope})."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    for match in _CHALLENGE_PARAM.finditer(rest):
        value = match.group(2) if match.group(2) is not None else match.group(3)
        params[match.group(1).lower()] = re.sub(r"\\(.)", r"\1", value or "")
    return scheme.lower(), params


def _describe(exc: requests.RequestException, url: str) -> str:
    if isinstance(exc, requests.exceptions.SSLError):
        return f"{url}: TLS verification failed"
    if isinstance(exc, requests.Timeout):
        return f"{url}: no answer (timed out)"
    if isinstance(exc, requests.ConnectionError):
        text = str(exc)
        for marker in ("Connection refused", "Name or service not known", "No route to host",
                       "Temporary failure in name resolution", "Network is unreachable"):
            if marker in text:
                return f"{url}: {marker.lower()}"
        return f"{url}: connection failed"
    return f"{url}: {type(exc).__name__}"
