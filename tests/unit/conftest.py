"""The shared fixtures of the project's own tests (tests/shared_fixtures.py)."""

from tests.shared_fixtures import bench, warm_http_stack, warm_openai_sdk  # noqa: F401
