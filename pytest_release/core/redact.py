"""Secret redaction for everything a release writes down.

A deploy log ends up in a Markdown report that is committed, attached to tickets and pasted into
chats, so any value that might be a credential is replaced by ``***`` before a line leaves the
process that read it. Redaction is literal (no guessing from the shape of a string): the values
come from the ``.env`` file and from environment variables whose *names* look secret.

Each secret is registered with the forms a script prints it in, as the GitHub Actions runner's
secret masker registers them (its ValueEncoders): base64 at the three byte alignments (so that
`base64(user:secret)` is caught too), URL-encoded, JSON- and XML-escaped. Terminal escape
sequences and other control characters are removed before masking, so a token split by a colour
code is still found, and no control byte reaches a Markdown report.
"""

from __future__ import annotations

import base64
import html
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from xml.sax.saxutils import escape as xml_escape

__all__ = ["MASK", "SECRET_NAME_PATTERN", "Redactor", "encoded_forms", "looks_secret", "sanitize"]

MASK = "***"

# Name parts (split on "_", "-", ".") that mark a variable as secret. Whole parts only, so that
# MONKEY, KEYBOARD, AUTHOR or PASSAGE are not caught; the compounds people write without a
# separator (APIKEY, AUTHTOKEN, CLIENTSECRET) are matched by the unambiguous substrings below.
_SECRET_PARTS = (
    "TOKEN", "TOKENS", "SECRET", "SECRETS", "PASSWORD", "PASSWORDS", "PASSWD", "PASS", "PWD",
    "PASSPHRASE", "KEY", "KEYS", "APIKEY", "CREDENTIAL", "CREDENTIALS", "CREDS", "AUTH",
    "PRIVATE", "COOKIE", "COOKIES", "SESSION", "DSN", "CERT", "CERTS", "CERTIFICATE", "SALT",
    "SIGNATURE", "JWT", "BEARER", "OTP", "PIN", "PAT", "PATS", "WEBHOOK", "WEBHOOKS",
)
_SECRET_SUBSTRINGS = (
    "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "APIKEY", "PRIVATEKEY", "PRIVATE_KEY",
    "WEBHOOK", "CONNECTION_STRING", "CONNECTIONSTRING", "CONN_STR", "CONNSTR",
)
# Variables every desktop or CI shell has whose names contain a secret-looking part but whose
# values are ordinary words ("user", "x11", a socket path): redacting them would blank out
# common words all over the log.
_NOT_SECRET = r"(?:PWD|OLDPWD|XDG_\w*|DBUS_SESSION_BUS_ADDRESS|SSH_AUTH_SOCK|SESSION_MANAGER|GPG_AGENT_INFO)"

SECRET_NAME_PATTERN = re.compile(
    rf"^(?!{_NOT_SECRET}$)"
    rf"(?:.*(?:{'|'.join(_SECRET_SUBSTRINGS)}).*"
    rf"|(?:.*[_.-])?(?:{'|'.join(_SECRET_PARTS)})(?:[_.-].*)?)$",
    re.IGNORECASE | re.DOTALL,
)
"""Matches environment variable names whose values should be treated as secrets."""

# Values too common to be a secret: redacting "true" would blank out every "true" in the log,
# and a value that is a common word protects nothing by being hidden.
_TRIVIAL_VALUES = frozenset({"true", "false", "none", "null", "yes", "no", "on", "off"})


# ANSI/VT escape sequences: CSI (colours, cursor moves), OSC (titles, hyperlinks) to BEL or ST,
# DCS/SOS/PM/APC strings, and the two-byte escapes; the 8-bit CSI too.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[ -/]*[0-~]?"
    r"|\x9b[0-?]*[ -/]*[@-~]?"
)
# What never reaches a report: C0 and C1 controls except tab and newline, DEL, and the invisible
# formatting characters that can hide or reorder text (zero-width, bidi overrides, BOM).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def sanitize(text: str) -> str:
    """`text` without terminal escape sequences and control characters (tab and newline stay).
    Returns `text` itself when there is nothing to remove."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub("", _ESCAPES.sub("", text))


def _base64_forms(value: str) -> set[str]:
    """base64 of `value` as it shows up inside a longer encoded string: the runner's three
    alignments (the value after 0, 1 or 2 dropped leading bytes), without padding, and, where the
    value's last base64 digit also carries bits of whatever follows it, without that digit too;
    in the standard and the URL-safe alphabet; and the whole padded encoding."""
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return set()
    forms = {base64.b64encode(raw).decode("ascii")}
    for offset in range(3):
        pruned = raw[offset:]
        if not pruned:
            continue
        text = base64.b64encode(pruned).decode("ascii").rstrip("=")
        variants = {text, text[:-1]} if len(pruned) % 3 else {text}
        for form in variants:
            if len(form) >= _MIN_BASE64:
                forms.update((form, form.replace("+", "-").replace("/", "_")))
    return forms


# A shorter base64 fragment would mask unrelated text.
_MIN_BASE64 = 6


def encoded_forms(value: str) -> set[str]:
    """The encodings a script may print `value` in: URL-encoded (nothing kept, or `/` kept as
    urllib's default does; both hex cases; `+` for spaces or not), JSON-escaped (ASCII-only or
    not, `/` escaped or not), XML- and HTML-escaped, and base64 (see `_base64_forms`)."""
    forms: set[str] = set()
    try:
        for safe in ("", "/"):
            for quoted in (urllib.parse.quote(value, safe=safe), urllib.parse.quote_plus(value, safe=safe)):
                forms.add(quoted)
                forms.add(re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quoted))
    except UnicodeEncodeError:  # a lone surrogate (os.environ's undecodable bytes)
        pass
    escaped = json.dumps(value)[1:-1]
    forms.update((escaped, escaped.replace("/", "\\/"), json.dumps(value, ensure_ascii=False)[1:-1]))
    forms.update((xml_escape(value, {'"': "&quot;", "'": "&apos;"}), html.escape(value)))
    forms.update(_base64_forms(value))
    return forms


def looks_secret(name: str) -> bool:
    """Whether an environment variable called `name` probably holds a secret."""
    return SECRET_NAME_PATTERN.match(name) is not None


class Redactor:
    """Replaces every occurrence of known secret values with ``***``.

    All secrets are compiled into one regular expression shaped as a prefix tree, so the cost per
    character of text hardly grows with the number of secrets. Occurrences are found at every
    position, and overlapping or adjacent ones are merged, so a secret that overlaps another
    cannot leave a fragment of itself behind.
    """

    def __init__(self, secrets: Iterable[str] = (), min_length: int = 4) -> None:
        if min_length < 1:
            raise ValueError(f"min_length must be at least 1, got {min_length}")
        self._min_length = min_length
        found: set[str] = set()
        for secret in secrets:
            found.update(self._variants(secret))
        self._secrets = frozenset(found)
        self._longest = max((len(s) for s in found), default=0)
        if found:
            body = _prefix_tree_regex(found)
            self._pattern: re.Pattern[str] | None = re.compile(body)
            self._starts: re.Pattern[str] | None = re.compile(f"(?=({body}))")
        else:
            self._pattern = self._starts = None

    def _variants(self, secret: str) -> set[str]:
        """The forms of `secret` that can show up in a line of output."""
        if not isinstance(secret, str):
            raise TypeError(f"secrets must be strings, got {type(secret).__name__}")
        # Text is sanitized before it is masked, so the plain forms are the sanitized value's;
        # an encoding (base64, URL, JSON) carries the raw one's control characters encoded.
        pieces: set[str] = set()
        for value in {secret, sanitize(secret)}:
            pieces.update((value, value.strip()))
            # Output is redacted line by line: a multi-line value (a PEM key) is hidden line by
            # line, and encoded whole (base64 or JSON of a multi-line value is one line).
            pieces.update(part.strip() for part in value.splitlines())
        pieces = {
            p for p in pieces
            if len(p.strip()) >= self._min_length and p.strip().lower() not in _TRIVIAL_VALUES
        }
        forms = set(pieces)
        for p in pieces:
            forms.update(encoded_forms(p))
        return {f for f in forms if len(f) >= self._min_length and "\n" not in f and sanitize(f) == f}

    @classmethod
    def from_environment(
        cls, env_file_values: Mapping[str, str], environ: Mapping[str, str], min_length: int = 4
    ) -> Redactor:
        """Every value of the ``.env`` file, plus the values of secret-looking names in `environ`.

        All ``.env`` values count, not only the secret-looking ones: the file exists to hold the
        deploy's credentials and a name like ``DATABASE_URL`` hides a password in the middle."""
        secrets = list(env_file_values.values())
        secrets.extend(value for name, value in environ.items() if looks_secret(name))
        return cls(secrets, min_length=min_length)

    @property
    def longest(self) -> int:
        """Length of the longest secret (0 when there is none)."""
        return self._longest

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __len__(self) -> int:
        return len(self._secrets)

    def __repr__(self) -> str:
        # Never the values: a repr ends up in assertion messages and tracebacks.
        return f"<Redactor: {len(self._secrets)} secret forms>"

    def _spans(self, text: str, pos: int = 0) -> Iterable[tuple[int, int]]:
        """Merged (start, end) ranges of text covered by secrets, from `pos` on, in order."""
        assert self._starts is not None
        start = end = -1
        for match in self._starts.finditer(text, pos):
            s = match.start()
            e = s + len(match.group(1))
            if s <= end:
                end = max(end, e)
                continue
            if end > start:
                yield start, end
            start, end = s, e
        if end > start:
            yield start, end

    def contains_secret(self, text: str) -> bool:
        return self._pattern is not None and self._pattern.search(sanitize(text)) is not None

    def changes(self, text: str) -> bool:
        """Whether `redact(text)` differs from `text`: a secret, an escape sequence or a control
        character in it. A cheap test for text that is mostly clean."""
        return _UNSAFE.search(text) is not None or (self._pattern is not None and self._pattern.search(text) is not None)

    def redact(self, text: str) -> str:
        """`text` with escape sequences and control characters removed and every occurrence of
        every secret, in every registered form, replaced by ``***``."""
        text = sanitize(text)
        if self._pattern is None or self._pattern.search(text) is None:
            return text
        out: list[str] = []
        last = 0
        for start, end in self._spans(text):
            out.append(text[last:start])
            out.append(MASK)
            last = end
        out.append(text[last:])
        return "".join(out)

    def safe_cut(self, text: str, at: int) -> int:
        """The first index >= `at` where `text` can be split without splitting a secret.

        Used to break an over-long line into pieces that are each redacted on their own. The
        answer is final only if ``len(text) >= result + longest``: past that, a secret could
        still be arriving."""
        if self._starts is None or at <= 0:
            return at
        cut = at
        for start, end in self._spans(text, max(0, at - self._longest + 1)):
            if start >= cut:
                break
            cut = max(cut, end)
        return cut


def _prefix_tree_regex(words: Iterable[str]) -> str:
    """A regex matching any of `words`, built as a prefix tree so that matching at a position
    follows one path instead of trying each word. At every node the longer continuation is tried
    before stopping, so the match at a position is the longest word starting there."""
    root: dict[str, dict] = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, dict]) -> str:
        # Iterative along single-child chains so a 4 kB PEM line does not recurse 4000 deep.
        parts: list[str] = []
        while True:
            children = sorted(ch for ch in node if ch)
            ends_here = "" in node
            if len(children) == 1 and not ends_here:
                parts.append(re.escape(children[0]))
                node = node[children[0]]
                continue
            if not children:
                return "".join(parts)
            branches = [re.escape(ch) + build(node[ch]) for ch in children]
            group = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
            if len(branches) == 1 and ends_here:
                group = f"(?:{group})"
            parts.append(group + ("?" if ends_here else ""))
            return "".join(parts)

    return build(root)
