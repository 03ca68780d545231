"""Secrets in the forms a script prints them: encoded (base64, URL, JSON, XML), split by terminal
escape sequences, or named like a personal access token. Each is masked as a CI runner's secret
masker would, in a unit, through the real deploy-script runner, and through a real demo release
whose deploy script prints every form (report, side log, JUnit XML and terminal checked)."""

from __future__ import annotations

import base64
import html
import json
import re
import sys
import textwrap
import urllib.parse
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_release.adapters.deploy import run_script
from pytest_release.core.redact import MASK, Redactor, looks_secret, sanitize

SECRET = 'tok/3n+Kq9"z<&>\'x y'  # '/', '+', a space, JSON and XML specials: every encoder differs
TOKEN = "demo-3f9c2a7b51e04d8a"  # DEMO_API_TOKEN in the demo's .env
PAT = "ghp_R3l3aseStatusPAT7x9"  # STATUS_PAT: secret by its name, from the environment


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def printed_forms(secret: str) -> dict[str, tuple[str, str, str]]:
    """What a script prints when it encodes `secret` the usual ways: label -> (text before,
    the encoded secret, text after)."""
    lower = lambda text: re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)  # noqa: E731
    xml = xml_escape(secret, {'"': "&quot;", "'": "&apos;"})
    return {
        "url, nothing kept": ("GET /cb?t=", urllib.parse.quote(secret, safe=""), " HTTP/1.1"),
        "url, / kept (urllib's default)": ("GET /cb?t=", urllib.parse.quote(secret), ""),
        "url, lowercase hex": ("GET /cb?t=", lower(urllib.parse.quote(secret, safe="")), ""),
        "url, lowercase hex, / kept": ("GET /cb?t=", lower(urllib.parse.quote(secret)), ""),
        "form body (+ for space)": ("body: t=", urllib.parse.quote_plus(secret), "&x=1"),
        "json": ('payload {"token": "', json.dumps(secret)[1:-1], '"}'),
        "json, / escaped": ('payload {"token": "', json.dumps(secret)[1:-1].replace("/", "\\/"), '"}'),
        "xml": ("<token>", xml, "</token>"),
        "html": ("<p>", html.escape(secret), "</p>"),
        "base64": ("secret: ", b64(secret), ""),
        "base64 without padding": ("secret: ", b64(secret).rstrip("="), ""),
        "base64 url-safe": ("secret: ", base64.urlsafe_b64encode(secret.encode()).decode(), ""),
        "base64 after 1 byte": ("Authorization: Basic ", b64("u:" + secret), ""),
        "base64 after 2 bytes": ("Authorization: Basic ", b64("us:" + secret), ""),
        "base64 after 3 bytes": ("Authorization: Basic ", b64("usr:" + secret), ""),
        "base64 with a newline (echo | base64)": ("k8s: ", b64(secret + "\n"), ""),
        "base64 with a suffix": ("k8s: ", b64(secret + "@host:5432"), ""),  # the suffix's digits stay
        "split by a colour code": ("token ", secret[:5] + "\x1b[1;31m" + secret[5:] + "\x1b[0m", "."),
        "split by a hyperlink escape": ("token ", secret[:3] + "\x1b]8;;http://x\x07" + secret[3:] + "\x1b]8;;\x07", ""),
        "split by a NUL and a backspace": ("token ", secret[:4] + "\x00\x08" + secret[4:], ""),
        "split by a zero-width space": ("token ", secret[:6] + "\u200b" + secret[6:], ""),
    }


def survivors(redacted: str, encoded: str, window: int = 6) -> list[str]:
    """Pieces of the encoded secret still in `redacted`, `window` characters at a time, leaving
    out the 4 digits at each end of a base64 form that carry a neighbour's bits."""
    core = encoded[4:-4] if len(encoded) > 16 else encoded
    return [core[i:i + window] for i in range(len(core) - window + 1) if core[i:i + window] in redacted]


@pytest.mark.parametrize("label", list(printed_forms(SECRET)))
def test_every_printed_form_of_a_secret_is_masked(label: str) -> None:
    before, encoded, after = printed_forms(SECRET)[label]
    redacted = Redactor([SECRET]).redact(before + encoded + after)
    assert MASK in redacted, (label, redacted)
    assert SECRET not in redacted
    if "split" in label:
        assert redacted == before + MASK + after
    else:
        assert redacted.startswith(before) and redacted.endswith(after)
        secret_digits = b64(SECRET)[:-4] if "suffix" in label else encoded
        assert not survivors(redacted, secret_digits), (label, redacted)
    assert "\x1b" not in redacted and "\x00" not in redacted and "\u200b" not in redacted


def test_base64_of_a_secret_inside_a_longer_value_at_every_offset() -> None:
    """The runner's three alignments: whatever precedes the secret, some form matches."""
    r = Redactor([SECRET])
    for prefix in ("", "a", "ab", "abc", "abcd", "user:"):
        for suffix in ("", "\n", "!", "?!", "@db.internal"):
            encoded = b64(prefix + SECRET + suffix)
            redacted = r.redact(f"x {encoded} y")
            assert MASK in redacted, (prefix, suffix)
            kept = redacted.replace("x ", "", 1).rsplit(" y", 1)[0].split(MASK)
            assert sum(len(k) for k in kept) <= len(b64(prefix)) + len(b64(suffix)) + 6, (prefix, suffix, redacted)


@settings(max_examples=150, deadline=None)
@given(
    secret=st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF, blacklist_characters="*"), min_size=8, max_size=40),
    prefix=st.binary(max_size=7),
    suffix=st.binary(max_size=7),
)
def test_base64_is_masked_whatever_surrounds_the_secret(secret: str, prefix: bytes, suffix: bytes) -> None:
    encoded = base64.b64encode(prefix + secret.encode() + suffix).decode()
    redacted = Redactor([secret]).redact(encoded)
    assert MASK in redacted
    # What is left is the neighbours' digits plus at most the runner's 2 + 1 boundary digits.
    left = redacted.replace(MASK, "")
    assert len(left) <= len(base64.b64encode(prefix)) + len(base64.b64encode(suffix)) + 6


def test_short_base64_fragments_are_not_registered() -> None:
    """A 4-character secret's shifted base64 forms would be 1-4 digits: masking them would blank
    out every matching pair of letters in the log."""
    r = Redactor(["abcd"])
    assert r.redact("YWJjZA== is masked") == f"{MASK} is masked"
    assert r.redact("Y2Q YmNk Yw") == "Y2Q YmNk Yw"


def test_escape_sequences_and_control_bytes_never_pass_even_without_a_secret() -> None:
    line = "\x1b[32mok\x1b[0m \x1b]0;title\x07done\x07 bell \x1b(B\x1bc\r\x7f\x9b31m\u202etxt"
    for redactor in (Redactor(), Redactor(["unrelated-secret"])):
        out = redactor.redact(line)
        assert out == "ok done bell txt"
    assert sanitize("tab\tand\nnewline stay") == "tab\tand\nnewline stay"
    plain = "nothing to remove"
    assert sanitize(plain) is plain and Redactor([SECRET]).redact(plain) is plain


@pytest.mark.parametrize(
    "name",
    ["STATUS_PAT", "GITHUB_PAT", "GH_PATS", "SSH_PRIVATE", "PRIVATE_KEY_PEM", "CLIENT_CERT", "SENTRY_DSN",
     "SLACK_WEBHOOK", "SLACK_WEBHOOK_URL", "TEAMS_WEBHOOKURL", "DB_CONNECTION_STRING",
     "AZURE_STORAGE_CONNECTIONSTRING", "REDIS_CONN_STR"],
)
def test_the_runner_style_names_look_secret(name: str) -> None:
    assert looks_secret(name)


@pytest.mark.parametrize("name", ["PATH", "PATTERN", "SPATIAL_INDEX", "DISPATCH_QUEUE", "CONNECTION_POOL_SIZE", "CERTAINTY"])
def test_look_alike_names_do_not(name: str) -> None:
    assert not looks_secret(name)


def test_the_deploy_runner_masks_every_form_and_strips_escapes(tmp_path: Path) -> None:
    """The real runner, a real child process: lines with no secret but an escape sequence take
    the fast path and must be cleaned too."""
    forms = {label: "".join(parts) for label, parts in printed_forms(SECRET).items()}
    script = tmp_path / "print.py"
    script.write_text(
        "import sys\n"
        f"for line in {list(forms.values())!r}:\n"
        "    sys.stdout.write(line + '\\n')\n"
        "sys.stdout.write('\\x1b[33mplain colour\\x1b[0m and a bell\\x07\\n')\n"
        "sys.stdout.flush()\n"
    )
    lines: list[str] = []
    result = run_script([sys.executable, str(script)], cwd=tmp_path, env={"PATH": "/usr/bin:/bin"},
                        on_line=lines.append, redactor=Redactor([SECRET]), idle_timeout=30)
    assert result.outcome == "succeeded"
    text = "\n".join(lines)
    assert text.count(MASK) >= len(forms)
    assert SECRET not in text and "\x1b" not in text and "\x07" not in text and "\x00" not in text
    assert lines[-1].endswith(" plain colour and a bell")
    for label, line in forms.items():
        if label.startswith("base64"):
            assert b64(SECRET)[:12] not in text, label


# --- a real release ------------------------------------------------------------------------------
PRINT_FORMS = textwrap.dedent(
    '''\
    import base64, json, os, re, urllib.parse
    from xml.sax.saxutils import escape
    for name in ("DEMO_API_TOKEN", "STATUS_PAT"):
        s = os.environ[name]
        lower_hex = re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), urllib.parse.quote(s, safe=""))
        print("url:", urllib.parse.quote(s), lower_hex)
        print("json:", json.dumps({"t": s}), "xml:", escape(s))
        print("b64:", base64.b64encode(s.encode()).decode(), base64.b64encode(("u:" + s).encode()).decode(),
              base64.b64encode(("us:" + s + "\\n").encode()).decode())
        print("ansi:", s[:6] + "\\x1b[31m" + s[6:] + "\\x1b[0m", "\\x07bell")
    '''
)


def test_a_release_whose_deploy_prints_encoded_secrets_leaks_none(demo_release, monkeypatch) -> None:
    demo = demo_release.demo.path
    script = demo / "scripts" / "deploy.sh"
    script.rename(demo / "scripts" / "deploy-real.sh")
    (demo / "scripts" / "print_forms.py").write_text(PRINT_FORMS)
    script.write_text(
        "#!/usr/bin/env bash\n# Wraps deploy-real.sh, which handles --rollback.\nset -euo pipefail\nhere=\"$(cd \"$(dirname \"$0\")\" && pwd)\"\n"
        "\"${PYTHON:-python3}\" \"$here/print_forms.py\"\nexec \"$here/deploy-real.sh\" \"$@\"\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("STATUS_PAT", PAT)
    monkeypatch.setenv("DEMO_DEPLOY_FAIL", "1")  # a rollback too: its log, its report
    # The rollback target is read from a URL that carries the PAT: the report names that URL.
    demo_release.edit_config(r"(url: http://127\.0\.0\.1:\$\{DEMO_PORT:-8711\}/version)$", r"\1?token=${STATUS_PAT}")
    result = demo_release.run("v2", "--junitxml=junit.xml")
    assert result.ret == 10, result.stdout.str()
    release_dir = demo_release.release_dir
    texts = {
        "release report": demo_release.report(),
        "rollback report": demo_release.report("rollback"),
        "deploy log": "".join(p.read_text() for p in release_dir.glob("*_deploy.log")),
        "rollback log": "".join(p.read_text() for p in release_dir.glob("*_rollback.log")),
        "junit": (demo_release.pytester.path / "junit.xml").read_text(),
        "terminal": result.stdout.str() + result.stderr.str(),
    }
    assert "url: ***" in texts["deploy log"] and "b64: ***" in texts["deploy log"]
    for secret in (TOKEN, PAT):
        forbidden = {
            "plain": secret,
            "url": urllib.parse.quote(secret, safe=""),
            "json": json.dumps(secret)[1:-1],
            "base64": b64(secret).rstrip("="),
            "base64 after 2 bytes": b64("u:" + secret)[4:-4],
            "base64 after 3 bytes": b64("us:" + secret + "\n")[4:-4],
        }
        for where, text in texts.items():
            assert "\x1b" not in text and "\x07" not in text, f"a control byte reached the {where}"
            for form, value in forbidden.items():
                assert value not in text, f"{secret[:4]}... leaked into the {where} as {form}"
