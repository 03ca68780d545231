"""Redactor: which names count as secret, and that no secret value survives in any text."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_release.core.redact import MASK, SECRET_NAME_PATTERN, Redactor, looks_secret


@pytest.mark.parametrize(
    "name",
    [
        "API_KEY", "KEY_ID", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN",
        "DB_PASSWORD", "db_password", "MYSQL_PASSWD", "SMTP_PASS", "DB_PWD", "CLIENT_SECRET",
        "CLIENTSECRET", "APIKEY", "STRIPE_APIKEY", "AUTHTOKEN", "BASIC_AUTH", "AUTH",
        "GOOGLE_APPLICATION_CREDENTIALS", "REGISTRY_CREDS", "PRIVATE_KEY", "SSH_PRIVATE_KEY",
        "SESSION_COOKIE", "COOKIE_SECRET", "FLASK_SESSION_KEY", "SENTRY_DSN", "TLS_CERT",
        "SIGNING_KEYS", "app.secret", "jwt-signing-key", "OTP_SEED", "SIM_PIN",
    ],
)
def test_secret_looking_names(name: str) -> None:
    assert looks_secret(name)
    assert SECRET_NAME_PATTERN.match(name)


@pytest.mark.parametrize(
    "name",
    [
        "MONKEY", "KEYBOARD_LAYOUT", "TURKEY", "GIT_AUTHOR_NAME", "AUTHOR", "PASSAGE", "BYPASS",
        "HOME", "PATH", "PWD", "OLDPWD", "XDG_SESSION_CLASS", "XDG_SESSION_TYPE",
        "DBUS_SESSION_BUS_ADDRESS", "SSH_AUTH_SOCK", "SESSION_MANAGER", "DEMO_REGION", "LANG",
        "CERTAINTY", "DSNX", "",
    ],
)
def test_ordinary_names(name: str) -> None:
    assert not looks_secret(name)


def test_every_occurrence_is_masked_even_inside_longer_words() -> None:
    r = Redactor(["s3cr3t-value"])
    assert r.redact("a=s3cr3t-value b=xs3cr3t-valuex s3cr3t-values3cr3t-value") == (
        f"a={MASK} b=x{MASK}x {MASK}"  # back-to-back occurrences become one mask
    )


def test_text_without_secrets_is_returned_unchanged() -> None:
    r = Redactor(["s3cr3t-value"])
    text = "nothing to hide here"
    assert r.redact(text) is text
    assert Redactor().redact(text) is text


def test_longest_first_and_overlaps_leave_no_fragment() -> None:
    r = Redactor(["abcd", "abcdefgh", "efghijkl", "wxyz"])
    assert r.redact("..abcdefgh..") == f"..{MASK}.."
    assert r.redact("..abcdefghijkl..") == f"..{MASK}.."  # overlapping secrets: one mask
    assert r.redact("abcdwxyz") == f"{MASK}"  # adjacent secrets merge too
    assert r.redact("abcdefg") == f"{MASK}efg"


def test_regex_metacharacters_are_literal() -> None:
    secrets = [r"a.*b(c|d)+\1", "[^x]{2}$", "back\\slash", "p@ss+w?rd^"]
    r = Redactor(secrets)
    assert r.redact("anything at all xyz") == "anything at all xyz"
    for secret in secrets:
        assert r.redact(f"<{secret}>") == f"<{MASK}>"


def test_short_and_trivial_values_are_not_secrets() -> None:
    r = Redactor(["a", "ab", "abc", "true", "None", " \t ", ""])
    assert not r
    assert len(r) == 0
    text = "a cab is true, or None"
    assert r.redact(text) == text
    assert Redactor(["abc"], min_length=3).redact("abcd") == f"{MASK}d"
    with pytest.raises(ValueError):
        Redactor(min_length=0)


def test_forms_a_value_takes_in_output_are_masked_too() -> None:
    r = Redactor(["  p@ss word/1  ", "-----BEGIN KEY-----\nMIIBOgIBAAJBAK\n-----END KEY-----"])
    assert r.redact("pw=p@ss word/1") == f"pw={MASK}"
    assert r.redact("url=https://u:p%40ss%20word%2F1@host") == f"url=https://u:{MASK}@host"
    assert r.redact("form: pw=p%40ss+word%2F1&x=1") == f"form: pw={MASK}&x=1"
    assert r.redact("key line MIIBOgIBAAJBAK") == f"key line {MASK}"


def test_unicode_secrets() -> None:
    r = Redactor(["пароль-секрет", "🔑🔑🔑🔑"])
    assert r.redact("x пароль-секрет y 🔑🔑🔑🔑🔑") == f"x {MASK} y {MASK}"  # two overlapping


def test_undecodable_environment_bytes_do_not_break_it() -> None:
    # os.environ turns undecodable bytes into lone surrogates, which cannot be percent-encoded.
    r = Redactor(["pass\udcff\udcfeword"])
    assert r.redact("x pass\udcff\udcfeword y") == f"x {MASK} y"


def test_repr_and_truthiness_never_show_a_value() -> None:
    r = Redactor(["hunter2hunter2"])
    assert r and "hunter2" not in repr(r) and "hunter2" not in str(r)


def test_from_environment_takes_all_dotenv_values_and_secret_looking_environ() -> None:
    r = Redactor.from_environment(
        {"DATABASE_URL": "postgres://app:pw-9f8e7d@db/app", "REGION": "eu-west-1"},
        {"GITHUB_TOKEN": "ghp_0123456789", "HOME": "/home/runner", "PWD": "/home/runner/work",
         "CI_JOB_TOKEN": "x", "XDG_SESSION_CLASS": "user"},
    )
    assert r.redact("postgres://app:pw-9f8e7d@db/app eu-west-1 ghp_0123456789") == f"{MASK} {MASK} {MASK}"
    assert r.redact("cd /home/runner/work as user") == "cd /home/runner/work as user"


def test_many_secrets_sharing_prefixes() -> None:
    secrets = [f"tok_{i:05d}_{'z' * (i % 7)}" for i in range(3000)]
    r = Redactor(secrets)
    line = " ".join(secrets[::97]) + " tok_99999_ tok_0001"
    redacted = r.redact(line)
    assert redacted == " ".join([MASK] * len(secrets[::97])) + " tok_99999_ tok_0001"


def test_a_very_long_secret_builds_and_matches() -> None:
    secret = "k" * 3 + "".join(chr(65 + i % 26) for i in range(20_000))
    r = Redactor([secret, secret[:500] + "-other"])
    assert r.longest == len(base64.b64encode(secret.encode()))  # the longest form: base64
    assert r.redact(f"[{secret}]") == f"[{MASK}]"
    assert r.redact(f"[{base64.b64encode(secret.encode()).decode()}]") == f"[{MASK}]"


def test_safe_cut_never_falls_inside_a_secret() -> None:
    r = Redactor(["SECRET99"])
    text = "0123SECRET99rest"
    assert r.safe_cut(text, 2) == 2
    assert r.safe_cut(text, 6) == 12
    assert r.safe_cut(text, 12) == 12
    assert Redactor().safe_cut(text, 6) == 6


@settings(max_examples=200, deadline=None)
@given(
    secrets=st.lists(st.text(st.characters(blacklist_characters="*"), min_size=4, max_size=12),
                     min_size=1, max_size=6),
    filler=st.lists(st.text(max_size=8), min_size=1, max_size=8),
    data=st.data(),
)
def test_no_secret_survives_in_any_text(secrets: list[str], filler: list[str], data) -> None:
    r = Redactor(secrets)
    pieces = []
    for chunk in filler:
        pieces.append(chunk)
        pieces.append(data.draw(st.sampled_from(secrets)))
    redacted = r.redact("".join(pieces))
    for secret in secrets:
        for line in secret.splitlines():
            line = line.strip()
            if len(line) >= 4 and line.lower() not in {"true", "false", "none", "null"}:
                assert line not in redacted
