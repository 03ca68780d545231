"""Registry checks against a real docker-registry (distribution 2.8) on loopback."""

from __future__ import annotations

import time

import pytest
import requests

from pytest_release.adapters.registry import (
    MANIFEST_ACCEPT,
    InvalidReference,
    Registry,
    RegistryError,
    parse_challenge,
    validate_reference,
)
from tests.support.registry_server import PASSWORD, USERNAME, free_port


def test_existing_oci_image_is_found_with_its_digest(registry):
    digest = registry.push_image("shop/api", "v1.4.0")

    check = Registry(registry.url).check("shop/api", "v1.4.0")

    assert check.exists
    assert check.digest == digest
    assert check.problem is None
    assert check.reference == f"{registry.url.split('://')[1]}/shop/api:v1.4.0"


def test_manifest_check_needs_the_accept_header(registry):
    """The reason MANIFEST_ACCEPT exists: without it an OCI image looks missing."""
    registry.push_image("shop/accept", "v1")
    url = f"{registry.url}/v2/shop/accept/manifests/v1"

    assert requests.head(url, timeout=5).status_code == 404
    assert requests.head(url, headers={"Accept": MANIFEST_ACCEPT}, timeout=5).status_code == 200


def test_image_can_be_checked_by_digest(registry):
    digest = registry.push_image("shop/by-digest", "v2")

    check = Registry(registry.url).check("shop/by-digest", digest)

    assert check.exists and check.digest == digest
    assert check.reference.endswith(f"/shop/by-digest@{digest}")


def test_missing_tag_is_not_found(registry):
    registry.push_image("shop/web", "v1")

    check = Registry(registry.url).check("shop/web", "v2")

    assert not check.exists
    assert check.digest is None
    assert check.problem == "not found"


def test_missing_repository_is_not_found(registry):
    check = Registry(registry.url).check("never/pushed", "v1")

    assert (check.exists, check.problem) == (False, "not found")


def test_unreachable_registry_is_reported_quickly():
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()

    check = Registry(url, timeout=1.5).check("shop/api", "v1")

    assert time.monotonic() - started < 2
    assert not check.exists
    assert check.problem.startswith("registry unreachable: ")
    assert url in check.problem


def test_htpasswd_registry_accepts_the_right_credentials(registry_htpasswd):
    digest = registry_htpasswd.push_image("team/svc", "v3")
    environ = {"RELEASE_REGISTRY_USERNAME": USERNAME, "RELEASE_REGISTRY_PASSWORD": PASSWORD}

    check = Registry.from_environment(registry_htpasswd.url, environ).check("team/svc", "v3")

    assert (check.exists, check.digest, check.problem) == (True, digest, None)


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"RELEASE_REGISTRY_USERNAME": USERNAME, "RELEASE_REGISTRY_PASSWORD": "wrong"},
    ],
    ids=["anonymous", "wrong-password"],
)
def test_htpasswd_registry_refusal_names_the_credential_variables(registry_htpasswd, environ):
    registry_htpasswd.push_image("team/svc", "v3")

    check = Registry.from_environment(registry_htpasswd.url, environ).check("team/svc", "v3")

    assert not check.exists
    assert check.problem.startswith("authentication failed: check the registry credentials (")
    assert "RELEASE_REGISTRY_USERNAME" in check.problem
    assert "RELEASE_REGISTRY_TOKEN" in check.problem
    assert "wrong" not in check.problem


def test_bearer_challenge_is_followed_to_the_token_service(registry_token):
    digest = registry_token.push_image("team/bearer", "v5")
    environ = {"DEPLOY_REG_USERNAME": USERNAME, "DEPLOY_REG_PASSWORD": PASSWORD}

    registry = Registry.from_environment(registry_token.url, environ, prefix="DEPLOY_REG")
    check = registry.check("team/bearer", "v5")

    assert (check.exists, check.digest, check.problem) == (True, digest, None)
    assert registry.check("team/bearer", "v6").problem == "not found"


def test_bearer_wrong_password_is_an_authentication_failure(registry_token):
    registry_token.push_image("team/bearer", "v5")
    environ = {"DEPLOY_REG_USERNAME": USERNAME, "DEPLOY_REG_PASSWORD": "hunter2"}

    check = Registry.from_environment(registry_token.url, environ, prefix="DEPLOY_REG").check(
        "team/bearer", "v5"
    )

    assert not check.exists
    assert check.problem.startswith("authentication failed: check the registry credentials (")
    assert "DEPLOY_REG_USERNAME and DEPLOY_REG_PASSWORD, or DEPLOY_REG_TOKEN" in check.problem
    assert "hunter2" not in check.problem


def test_anonymous_bearer_request_is_an_authentication_failure(registry_token):
    check = Registry(registry_token.url).check("team/bearer", "v5")

    assert not check.exists
    assert check.problem.startswith("authentication failed")


def test_a_given_token_is_sent_as_is(registry_token):
    digest = registry_token.push_image("team/token", "v1")
    token = registry_token.token_issuer.mint("team/token", "pull")

    check = Registry.from_environment(
        registry_token.url, {"RELEASE_REGISTRY_TOKEN": token}
    ).check("team/token", "v1")

    assert (check.exists, check.digest) == (True, digest)


def test_a_token_for_another_repository_is_refused(registry_token):
    registry_token.push_image("team/token", "v1")
    token = registry_token.token_issuer.mint("team/other", "pull")

    check = Registry(registry_token.url, token=token).check("team/token", "v1")

    assert not check.exists
    assert check.problem.startswith("authentication failed")


@pytest.mark.parametrize(
    "repository",
    [
        "../../v2/_catalog",
        "shop/api?x=1",
        "shop/api#frag",
        "Shop/API",
        "shop//api",
        "/shop",
        "shop/",
        "shop api",
        "shop/api/manifests/v1/../..",
        "shop%2fapi",
        "a" * 256,
        "",
        "shop\napi",
    ],
)
def test_hostile_repository_names_are_refused_before_any_request(repository):
    # Nothing listens on this port: a request would be "unreachable", not a refusal.
    registry = Registry(f"http://127.0.0.1:{free_port()}")

    with pytest.raises(InvalidReference, match="invalid repository name"):
        registry.check(repository, "v1")


@pytest.mark.parametrize(
    "tag", ["", "-v1", ".v1", "v1/../../x", "v1?digest=x", "a" * 129, "v 1", "v1\r\nX: y", "é"]
)
def test_hostile_tags_are_refused(tag):
    with pytest.raises(InvalidReference, match="invalid tag"):
        Registry("http://127.0.0.1:1").check("shop/api", tag)


@pytest.mark.parametrize(
    "repository, tag",
    [("library/nginx", "1.25.3-alpine"), ("a/b_c/d__e/f-g/h.i", "V_1.0"), ("x", "sha256:" + "a" * 64)],
)
def test_valid_references_pass_validation(repository, tag):
    validate_reference(repository, tag)


def test_registry_url_must_be_http_and_carry_no_credentials():
    with pytest.raises(RegistryError, match="not an http"):
        Registry("ftp://registry.example.com")
    with pytest.raises(RegistryError, match="must not carry credentials"):
        Registry("https://user:pw@registry.example.com")
    assert Registry("registry.example.com/").url == "https://registry.example.com"


def test_repr_shows_no_secret():
    registry = Registry("https://r.example", username="u", password="s3cret-value")
    assert "s3cret" not in repr(registry)


def test_challenge_parsing():
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:shop/api:pull,push"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://auth.example/token",
        "service": "registry.example",
        "scope": "repository:shop/api:pull,push",
    }
    assert parse_challenge('Basic realm="x"') == ("basic", {"realm": "x"})
