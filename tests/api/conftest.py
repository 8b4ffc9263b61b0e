"""The running daemon of test_app.py, for every test of the API that drives one."""

from tests.api.test_app import daemon  # noqa: F401 (a fixture)
