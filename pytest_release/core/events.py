"""The state changes a release announces (`pytest_release_notify`'s events), in the order a
release can reach them: a person can be asked at the gate, before anything is deployed."""

NOTIFY_EVENTS = ("asked", "started", "rolling-back", "rolled-back", "released", "aborted", "rollback-failed")

#: The events that end a release: exactly one of them is sent, with the verdict.
FINAL_EVENTS = ("rolled-back", "released", "aborted", "rollback-failed")
