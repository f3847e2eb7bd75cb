"""Tests of an application against the stack the devarch plugin brings up."""

import os
import time
import urllib.request

import pytest


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - a local test URL
        page: str = response.read().decode()
    return page


def test_web_answers_on_its_published_port(devarch_stack):
    """The web instance serves its page on the host port the fixture reports."""
    assert "<h1>plugin-demo</h1>" in fetch(devarch_stack.url("web", 8080))


def test_web_was_wired_to_the_stacks_database(devarch_stack):
    """The web container sees the database of its own stack on the stack network."""
    env = fetch(devarch_stack.url("web", 8080, path="/env.txt"))
    assert f"DB_HOST={devarch_stack.container('db')}" in env


def test_effective_env_redacts_secrets(devarch_stack):
    """env() shows the effective environment with secret values redacted."""
    env = devarch_stack.env("db")
    assert env["POSTGRES_PASSWORD"] == "***"
    assert devarch_stack.env("web")["DB_PASSWORD"] == "***"


@pytest.mark.parametrize("n", range(3))
def test_stack_name_is_per_run(devarch_stack, n):  # noqa: ARG001 - runs in any worker
    """The stack is named after the manifest's stack plus a run suffix."""
    assert devarch_stack.name.startswith("plugdemo-")


@pytest.mark.skipif(
    not os.environ.get("PLUGIN_SLEEP"), reason="only when a test wants a run to hang"
)
def test_sleeps_while_the_stack_is_up(devarch_stack):  # noqa: ARG001 - needs the stack up
    """Keeps the run alive so a test can kill it while the stack is up."""
    time.sleep(float(os.environ["PLUGIN_SLEEP"]))
