"""What a `<testcase>`'s attributes say of its outcome, where the tools differ.

A case without a `<failure>`, `<error>` or `<skipped>` child is not necessarily a pass:
GoogleTest writes a disabled test as `status="notrun" result="suppressed"`, other tools write
`status="disabled"`, `executed="False"`... Only a known "it ran" value lets such a case pass;
anything else is "not run" (fail closed). And some cases stand for a whole class that failed
before its tests could run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["attribute_outcome", "is_class_failure"]

# Placeholder cases that JUnit 4 (`initializationError`), Gradle (`classMethod`) and the JUnit
# Platform (`executionError`, or no name at all) write for a class that failed as a whole.
# Surefire 2.22 writes the class name as the case name instead (SUREFIRE-1822).
_CLASS_FAILURE_NAMES = frozenset({"", "initializationError", "classMethod", "executionError"})
_JAVA_CLASS = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+\Z")

# `status` / `result` attribute values (lowercase). A value in neither set is not a pass.
_RAN = frozenset({"", "run", "passed", "pass", "success", "successful", "succeeded", "ok", "completed", "executed", "finished"})
_STATUS_OUTCOMES = {
    **dict.fromkeys(("failed", "failure", "fail"), "failed"),
    **dict.fromkeys(("error", "errored", "broken", "timeout", "timedout", "aborted", "crashed"), "error"),
}
_TRUE = frozenset({"true", "1", "yes"})


def is_class_failure(attrs: Mapping[str, str]) -> bool:
    name, classname = attrs.get("name", ""), attrs.get("classname", "")
    return name in _CLASS_FAILURE_NAMES or (name == classname and bool(_JAVA_CLASS.match(name)))


def attribute_outcome(attrs: Mapping[str, str]) -> tuple[str, str | None]:
    """A case without an outcome child, judged by its attributes: GoogleTest's `status="notrun"
    result="suppressed"`, `status="disabled"`, `executed="false"`... Anything but a known
    "it ran" value is not a pass (fail closed)."""
    said = [(key, attrs[key]) for key in ("status", "result") if key in attrs]
    said += [(key, attrs[key]) for key in ("disabled", "skipped", "ignored") if attrs.get(key, "").strip().lower() in _TRUE]
    if attrs.get("executed", "").strip().lower() in ("false", "0", "no"):
        said.append(("executed", attrs["executed"]))
    outcome = "passed"
    for key, value in said:
        word = value.strip().lower()
        if key in ("status", "result") and word in _RAN:
            continue
        if key in ("status", "result") and word in _STATUS_OUTCOMES:
            outcome = _STATUS_OUTCOMES[word] if outcome in ("passed", "skipped") else outcome
            continue
        if outcome == "passed":
            outcome = "skipped"
    if outcome == "skipped":
        return outcome, " ".join(f'{key}="{value}"' for key, value in said)
    return outcome, None
