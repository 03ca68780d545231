"""Real container registries for the test suite (Debian package `docker-registry`, distribution 2.8).

Three session-scoped registries, each a private `docker-registry serve` on 127.0.0.1 with its
own storage in a temp dir:

- `registry`: anonymous.
- `registry_htpasswd`: `auth: htpasswd` (HTTP Basic). distribution only accepts bcrypt entries;
  they are made with the system's libcrypt (libxcrypt) through ctypes, since neither python
  `bcrypt` nor apache2-utils' `htpasswd` is installed here.
- `registry_token`: `auth: token` (the Bearer challenge used by Docker Hub, GHCR, Harbor...).
  The registry is real; the token service next to it is a small test issuer that checks a
  username/password and signs RS256 JWTs with a throw-away key (signed by `openssl`), exactly
  the contract a production token service (docker_auth, Harbor core) has with the registry.

Images are pushed without docker, through the v2 API: an upload per blob (config and one
layer), then an OCI image manifest referencing them.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import gzip
import hashlib
import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

import pytest
import requests
import yaml

__all__ = [
    "PASSWORD",
    "USERNAME",
    "RunningRegistry",
    "TokenIssuer",
    "bcrypt_hash",
    "free_port",
    "registry",
    "registry_htpasswd",
    "registry_token",
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

USERNAME = "releaser"
PASSWORD = "correct horse battery staple"
TOKEN_SERVICE = "pytest-release-registry"
TOKEN_ISSUER = "pytest-release-test-issuer"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the time of asking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningRegistry:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    username: str | None = None
    password: str | None = None
    authorization: Callable[[str, str], dict[str, str]] = field(default=lambda repo, actions: {})
    token_issuer: TokenIssuer | None = None

    def push_image(self, repository: str, tag: str) -> str:
        """Push a tiny real image (config + one layer, OCI manifest); returns its digest."""
        headers = self.authorization(repository, "pull,push")
        layer_tar = _tar_with_file("release.txt", f"{repository}:{tag}\n".encode())
        layer = gzip.compress(layer_tar, mtime=0)
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {"Labels": {"org.opencontainers.image.version": tag}},
                "rootfs": {"type": "layers", "diff_ids": [_digest(layer_tar)]},
            },
            sort_keys=True,
        ).encode()
        self._upload_blob(repository, config, headers)
        self._upload_blob(repository, layer, headers)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": _digest(config), "size": len(config)},
                "layers": [{"mediaType": OCI_LAYER, "digest": _digest(layer), "size": len(layer)}],
            }
        ).encode()
        response = requests.put(
            f"{self.url}/v2/{repository}/manifests/{tag}",
            data=manifest,
            headers={**headers, "Content-Type": OCI_MANIFEST},
            timeout=10,
        )
        assert response.status_code == 201, f"manifest PUT: {response.status_code} {response.text}"
        digest = _digest(manifest)
        assert response.headers["Docker-Content-Digest"] == digest
        return digest

    def _upload_blob(self, repository: str, blob: bytes, headers: dict[str, str]) -> None:
        started = requests.post(
            f"{self.url}/v2/{repository}/blobs/uploads/", headers=headers, timeout=10
        )
        assert started.status_code == 202, f"upload POST: {started.status_code} {started.text}"
        location = urlsplit(urljoin(self.url + "/", started.headers["Location"]))
        query = parse_qs(location.query)
        query["digest"] = [_digest(blob)]
        target = urlunsplit(location._replace(query=urlencode(query, doseq=True)))
        finished = requests.put(
            target,
            data=blob,
            headers={**headers, "Content-Type": "application/octet-stream"},
            timeout=10,
        )
        assert finished.status_code == 201, f"blob PUT: {finished.status_code} {finished.text}"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _tar_with_file(name: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(content), 0, 0o644
        tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _registry_binary() -> str:
    binary = shutil.which("docker-registry") or (
        "/usr/bin/docker-registry" if os.path.exists("/usr/bin/docker-registry") else None
    )
    if binary is None:
        pytest.fail("docker-registry not found: install the Debian package docker-registry")
    return binary


def _start_registry(workdir: Path, auth: dict | None = None) -> tuple[subprocess.Popen[bytes], str, Path]:
    """Start `docker-registry serve`, wait until /v2/ answers; retry if the port was taken."""
    binary = _registry_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "registry.log"
    for _attempt in range(3):
        port = free_port()
        config = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(workdir / "storage")}},
            "http": {"addr": f"127.0.0.1:{port}"},
        }
        if auth:
            config["auth"] = auth
        config_path = workdir / "config.yml"
        config_path.write_text(yaml.safe_dump(config))
        with open(log, "wb") as log_file:
            process = subprocess.Popen(
                [binary, "serve", str(config_path)],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            try:
                if requests.get(f"{url}/v2/", timeout=1).status_code in (200, 401):
                    return process, url, log
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        _stop(process)
        output = log.read_text(errors="replace")
        if "address already in use" not in output:
            pytest.fail(f"docker-registry did not start within 20 s:\n{output}")
    pytest.fail(f"docker-registry could not bind a free port:\n{log.read_text(errors='replace')}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """An anonymous registry."""
    process, url, log = _start_registry(tmp_path_factory.mktemp("registry"))
    try:
        yield RunningRegistry(url=url, process=process, log=log)
    finally:
        _stop(process)


# --- HTTP Basic (htpasswd) ---------------------------------------------------------------------

_BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def bcrypt_hash(password: str) -> str:
    """A `$2y$` bcrypt hash from libcrypt (libxcrypt), the only bcrypt this machine has."""
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
    except OSError:
        pytest.fail("libcrypt not found: install the Debian package libcrypt1 (libxcrypt)")
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    # 22 salt characters; the last one carries only 2 significant bits.
    salt = "".join(secrets.choice(_BCRYPT_ALPHABET) for _ in range(21)) + secrets.choice(".Oeu")
    hashed = lib.crypt(password.encode(), f"$2y$05${salt}".encode())
    if not hashed or not hashed.startswith(b"$2y$05$"):
        pytest.fail("this libcrypt cannot make bcrypt hashes (libxcrypt is needed)")
    return hashed.decode()


@pytest.fixture(scope="session")
def registry_htpasswd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A registry with `auth: htpasswd`: user USERNAME, password PASSWORD."""
    workdir = tmp_path_factory.mktemp("registry-htpasswd")
    htpasswd = workdir / "htpasswd"
    htpasswd.write_text(f"{USERNAME}:{bcrypt_hash(PASSWORD)}\n")
    auth = {"htpasswd": {"realm": "pytest-release", "path": str(htpasswd)}}
    process, url, log = _start_registry(workdir, auth)
    basic = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    try:
        yield RunningRegistry(
            url=url,
            process=process,
            log=log,
            username=USERNAME,
            password=PASSWORD,
            authorization=lambda repo, actions: {"Authorization": f"Basic {basic}"},
        )
    finally:
        _stop(process)


# --- Bearer tokens -----------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenIssuer:
    """Signs registry tokens (RS256 JWT, certificate in `x5c`) with a throw-away key."""

    def __init__(self, workdir: Path) -> None:
        self.openssl = shutil.which("openssl")
        if self.openssl is None:
            pytest.fail("openssl not found: install the Debian package openssl")
        self.key = workdir / "token-key.pem"
        self.certificate = workdir / "token-cert.pem"
        subprocess.run(
            [self.openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=pytest-release token issuer",
             "-keyout", str(self.key), "-out", str(self.certificate)],
            check=True, capture_output=True,
        )
        der = subprocess.run(
            [self.openssl, "x509", "-in", str(self.certificate), "-outform", "DER"],
            check=True, capture_output=True,
        ).stdout
        self.x5c = [base64.b64encode(der).decode()]

    def mint(self, repository: str, actions: str, subject: str = USERNAME) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": self.x5c}
        claims = {
            "iss": TOKEN_ISSUER,
            "sub": subject,
            "aud": TOKEN_SERVICE,
            "exp": now + 600,
            "nbf": now - 30,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": [
                {"type": "repository", "name": repository, "actions": actions.split(",")}
            ]
            if repository
            else [],
        }
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = subprocess.run(
            [self.openssl, "dgst", "-sha256", "-sign", str(self.key)],
            input=signing_input.encode(), check=True, capture_output=True,
        ).stdout
        return f"{signing_input}.{_b64url(signature)}"


class _TokenHandler(BaseHTTPRequestHandler):
    issuer: TokenIssuer
    requests_seen: list[dict[str, object]]

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        expected = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
        authorised = self.headers.get("Authorization") == expected
        self.requests_seen.append({"path": parts.path, "query": query, "authorised": authorised})
        if parts.path != "/token":
            return self._answer(404, {"error": "not found"})
        if not authorised:
            return self._answer(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
        if query.get("service") != [TOKEN_SERVICE]:
            return self._answer(400, {"errors": [{"code": "DENIED", "message": "unknown service"}]})
        repository, actions = "", ""
        for scope in query.get("scope", []):
            kind, _, rest = scope.partition(":")
            name, _, wanted = rest.rpartition(":")
            if kind == "repository":
                repository = name
                actions = ",".join(a for a in wanted.split(",") if a in ("pull", "push"))
        token = self.issuer.mint(repository, actions)
        self._answer(200, {"token": token, "access_token": token, "expires_in": 600})

    def _answer(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="session")
def registry_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A registry with `auth: token` and its token service on another loopback port.

    `.token_issuer.mint(repository, actions)` makes a valid token directly; the token service
    at the challenge's realm gives one for USERNAME/PASSWORD (HTTP Basic).
    """
    workdir = tmp_path_factory.mktemp("registry-token")
    issuer = TokenIssuer(workdir)
    handler = type(
        "TokenHandler", (_TokenHandler,), {"issuer": issuer, "requests_seen": []}
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="token-service", daemon=True)
    thread.start()
    realm = f"http://127.0.0.1:{server.server_address[1]}/token"
    auth = {
        "token": {
            "realm": realm,
            "service": TOKEN_SERVICE,
            "issuer": TOKEN_ISSUER,
            "rootcertbundle": str(issuer.certificate),
        }
    }
    try:
        process, url, log = _start_registry(workdir, auth)
        try:
            yield RunningRegistry(
                url=url,
                process=process,
                log=log,
                username=USERNAME,
                password=PASSWORD,
                authorization=lambda repo, actions: {
                    "Authorization": f"Bearer {issuer.mint(repo, actions)}"
                },
                token_issuer=issuer,
            )
        finally:
            _stop(process)
    finally:
        server.shutdown()
        server.server_close()
