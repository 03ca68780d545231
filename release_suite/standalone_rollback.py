"""Standalone rollback (`--release-rollback-only`): the only check of the session.

Roll the environment back to `--release-rollback-to` with the deploy script, then verify that
version as any rollback is verified: a smoke test and the short watch window. Not a phase module:
release mode collects it only in the standalone mode (see pytest_release/phases/rollback.py)."""


def test_rollback_to_chosen_version(release):
    release.run_standalone_rollback()
