"""The six phases of a release, one test module each, named in run order.

pytest-release collects these modules when `--release-env` is given; each reads like the runbook
step it automates. The `release` fixture is the release in progress (pytest_release.context)."""
