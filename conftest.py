"""Source-tree conftest.

Deliberately empty of fixtures and `pytest_plugins`: pytest also loads it when a release run from
an editable install collects release_suite/ out of this tree, so it must be harmless anywhere.
The test suite's fixtures live in tests/conftest.py."""
