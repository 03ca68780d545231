"""The .env check: parsing dotenv files as written by people, and problems that never repeat a value."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_release.adapters.envfile import (
    FILE_KEY,
    EnvFileError,
    EnvFileProblem,
    check_env_file,
    looks_like_placeholder,
    parse_env_file,
)

SECRET = "sk_live_9f8e7d6c5b4a3210"


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_parses_the_forms_people_write(tmp_path: Path) -> None:
    env = write(tmp_path / ".env", f"""\
# a comment
   # an indented comment

PLAIN=value
export EXPORTED=yes please
SPACED = around equals
EMPTY=
TRAILING=kept # this is a comment
HASH=pa#ss
SINGLE='literal $HOME \\n "quoted"'
DOUBLE="tab\\there \\"q\\" \\\\ \\$HOME $HOME"
DOUBLE_COMMENT="value" # comment
NO_EXPANSION=$(rm -rf /) `id` ${{HOME}}
BASE64=c2VjcmV0==
URL=postgres://u:p@h:5432/db?sslmode=require
_UNDERSCORE1=x
TOKEN={SECRET}
""")
    assert parse_env_file(env) == {
        "PLAIN": "value",
        "EXPORTED": "yes please",
        "SPACED": "around equals",
        "EMPTY": "",
        "TRAILING": "kept",
        "HASH": "pa#ss",
        "SINGLE": 'literal $HOME \\n "quoted"',
        "DOUBLE": 'tab\there "q" \\ $HOME $HOME',
        "DOUBLE_COMMENT": "value",
        "NO_EXPANSION": "$(rm -rf /) `id` ${HOME}",
        "BASE64": "c2VjcmV0==",
        "URL": "postgres://u:p@h:5432/db?sslmode=require",
        "_UNDERSCORE1": "x",
        "TOKEN": SECRET,
    }


def test_multi_line_quoted_values_crlf_bom_and_last_one_wins(tmp_path: Path) -> None:
    env = write(tmp_path / ".env", (
        "\ufeffKEY=first\r\n"
        'PEM="-----BEGIN KEY-----\r\nMIIB\r\n-----END KEY-----"\r\n'
        "KEY=second\r\n"
        "NO_NEWLINE_AT_END=1"
    ).encode("utf-8"))
    assert parse_env_file(env) == {
        "KEY": "second",
        "PEM": "-----BEGIN KEY-----\nMIIB\n-----END KEY-----",
        "NO_NEWLINE_AT_END": "1",
    }


@pytest.mark.parametrize(
    ("text", "lineno", "message"),
    [
        (f"OK=1\n{SECRET}\n", 2, "expected KEY=VALUE, found no '='"),
        (f"OK=1\n\n={SECRET}\n", 3, "the variable name is missing"),
        (f"1BAD={SECRET}\n", 1, "invalid variable name"),
        (f"MY-KEY={SECRET}\n", 1, "invalid variable name"),
        (f"{SECRET} {SECRET}={SECRET}\n", 1, "invalid variable name"),
        ("export\n", 1, "expected KEY=VALUE"),
        (f"A='{SECRET}\nB=2\n", 1, "the quoted value of A is never closed"),
        (f'A="{SECRET}" {SECRET}\n', 1, "unexpected text after the closing quote of A"),
        (f"A={SECRET}\0\n", 1, "NUL character"),
        (f"A='ok\n{SECRET}\0'\n", 2, "NUL character"),
    ],
)
def test_malformed_lines_name_file_and_line_never_the_value(
    tmp_path: Path, text: str, lineno: int, message: str
) -> None:
    env = write(tmp_path / ".env", text)
    with pytest.raises(EnvFileError) as raised:
        parse_env_file(env)
    error = str(raised.value)
    assert error.startswith(f"{env}:{lineno}: ")
    assert message in error
    assert SECRET not in error and SECRET[:8] not in error


def test_not_utf8_is_an_error_with_the_line(tmp_path: Path) -> None:
    env = write(tmp_path / ".env", b"A=1\nB=\xff\xfe" + SECRET.encode() + b"\n")
    with pytest.raises(EnvFileError, match=r":2: not valid UTF-8") as raised:
        parse_env_file(env)
    assert SECRET not in str(raised.value)


def test_a_huge_line_parses_without_trouble(tmp_path: Path) -> None:
    env = write(tmp_path / ".env", "BIG=" + "x" * 1_000_000 + "y\n")
    assert len(parse_env_file(env)["BIG"]) == 1_000_001


def test_a_complete_env_has_no_problems(tmp_path: Path) -> None:
    example = write(tmp_path / ".env.example", "DB_PASSWORD=\nAPI_TOKEN=<token>\nREGION=eu-west-1\n")
    env = write(tmp_path / ".env", f"DB_PASSWORD=pw-4d3c2b1a\nAPI_TOKEN={SECRET}\nREGION=eu-west-1\nEXTRA=1\n")
    values, problems = check_env_file(env, example)
    assert problems == []
    assert values["API_TOKEN"] == SECRET and values["EXTRA"] == "1"


def test_each_kind_of_problem_is_reported_without_values(tmp_path: Path) -> None:
    example = write(tmp_path / ".env.example", """\
DB_PASSWORD=
API_TOKEN=
SIGNING_KEY=
REGION=
BLANK=
WEBHOOK_SECRET=whsec_example_value_123
LOG_LEVEL=info
""")
    env = write(tmp_path / ".env", """\
API_TOKEN=
SIGNING_KEY=changeme
BLANK=\"   \"
REGION=eu-west-1
WEBHOOK_SECRET=whsec_example_value_123
LOG_LEVEL=info
OTHER_PASSWORD=<your password>
SITE_NAME=example
""")
    values, problems = check_env_file(env, example)
    assert problems == [
        EnvFileProblem("DB_PASSWORD", "missing"),
        EnvFileProblem("API_TOKEN", "empty"),
        EnvFileProblem("SIGNING_KEY", "placeholder value"),
        EnvFileProblem("BLANK", "empty"),
        EnvFileProblem("WEBHOOK_SECRET", "still the value from .env.example"),
        EnvFileProblem("OTHER_PASSWORD", "placeholder value"),
    ]
    assert values["REGION"] == "eu-west-1"
    rendered = " ".join(str(p) for p in problems) + repr(problems)
    for value in ("changeme", "whsec_example_value_123", "<your password>"):
        assert value not in rendered
    assert str(problems[0]) == "DB_PASSWORD: missing"


def test_a_missing_env_file_is_one_clear_problem(tmp_path: Path) -> None:
    example = write(tmp_path / ".env.example", "DB_PASSWORD=\n")
    values, problems = check_env_file(tmp_path / ".env", example)
    assert values == {}
    assert len(problems) == 1 and problems[0].key == FILE_KEY
    assert problems[0].problem.startswith(f".env not found at {tmp_path / '.env'}")
    assert "copy .env.example to .env" in problems[0].problem
    assert str(problems[0]) == problems[0].problem


def test_a_missing_example_means_the_requirements_are_unknown(tmp_path: Path) -> None:
    env = write(tmp_path / ".env", "A=1\n")
    values, problems = check_env_file(env, tmp_path / ".env.example")
    assert values == {"A": "1"}
    assert problems == [EnvFileProblem(
        FILE_KEY,
        f".env.example not found at {tmp_path / '.env.example'}: cannot tell which variables the deploy needs",
    )]


def test_a_malformed_env_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    example = write(tmp_path / ".env.example", "A=\n")
    env = write(tmp_path / ".env", f"A=1\n{SECRET}\n")
    values, problems = check_env_file(env, example)
    assert values == {}
    assert problems == [EnvFileProblem(FILE_KEY, f"{env}:2: expected KEY=VALUE, found no '='")]

    env.unlink()
    env.mkdir()  # a directory where the file should be
    _, problems = check_env_file(env, example)
    assert problems[0].key == FILE_KEY and ".env not found" in problems[0].problem


@pytest.mark.parametrize(
    "value",
    [
        "changeme", "CHANGEME", "change-me", "change_me", "change me", "changeme123",
        "change-me-in-production", "replace-me", "REPLACE_THIS", "replace-with-real-token",
        "<token>", "<your api key>", "TODO", "todo", "TBD", "FIXME", "xxx", "XXXXXXXX",
        "xxxx-xxxx-xxxx", "sk-xxxxxxxxxxxx", "your-api-key", "YOUR_API_KEY", "your_token_here",
        "yourpassword", "put-your-key-here", "insert_token_here", "placeholder", "PLACEHOLDER",
        "example", "example.com", "example-token", "dummy", "dummy_password", "sample",
        "fake-secret", "...", "…", "***", "-", "?", "${DB_PASSWORD}", "{{ api_token }}",
        "[token]", "secret", "password", "my-secret", "n/a", "  changeme  ",
    ],
)
def test_placeholders(value: str) -> None:
    assert looks_like_placeholder(value)


@pytest.mark.parametrize(
    "value",
    [
        SECRET, "hunter2", "pw-4d3c2b1a", "eu-west-1", "na", "demo-3f9c2a7b51e04d8a",
        "example-corp-9f8a7", "s3cr3t-example-xxx-value", "xxx_real_Ab12", "boxxx1",
        "postgres://user:pw@db.internal:5432/app", "settings", "changelog-bot", "todo-app-prod",
        "Your0wnP4ss!", "a" * 64, "0000", "",
    ],
)
def test_real_values_are_not_placeholders(value: str) -> None:
    assert not looks_like_placeholder(value)
