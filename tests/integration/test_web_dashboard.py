"""The dashboard in a real headless Chromium, against a real ``devarch serve`` on SQLite and Docker.

One user story, page by page, the way a person would click through it: create a stack, add
instances from the catalog, override an env var and a port, resolve an ambiguous wire with the
picker, review the plan diff, apply it and watch the progress, see the containers healthy and
the log lines of one, clone the stack and delete the clone. Then the engine is checked with the
docker SDK. Every page is screenshotted at 1280x800 and 390x844 into a folder the test prints,
and every form control on every page must have an accessible name (keyboard and screen readers).

Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright's Python package; Playwright's
own browser download cannot work on a machine without internet.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker
import pytest
from tests.integration._serve import served_url, start_serve

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.docker

CHROMIUM = Path("/usr/bin/chromium")
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}

#: Every visible form control without an accessible name (label, aria-label or aria-labelledby).
UNLABELLED_JS = """
() => Array.from(document.querySelectorAll('input, select, textarea, button'))
  .filter(el => el.type !== 'hidden' && el.offsetParent !== null)
  .filter(el => {
    if (el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')) return false;
    if (el.tagName === 'BUTTON') return el.textContent.trim() === '';
    return !(el.labels && el.labels.length);
  })
  .map(el => el.outerHTML.slice(0, 120))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is missing (.ci/run installs Debian's chromium package)")
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def served(docker_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ``devarch serve`` process; yields the URL with the token that the CLI printed."""
    del docker_url
    home = tmp_path_factory.mktemp("dashhome")
    proc = start_serve(home)
    base, token = served_url(proc)
    url = f"{base}/?token={token}"
    try:
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code_ = proc.wait(timeout=60)
        finally:
            proc.kill()
        stderr = proc.stderr.read() if proc.stderr else ""
        assert code_ == 0, stderr
        assert "Traceback" not in stderr


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("DEVARCH_SCREENSHOTS", "")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("shots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\ndashboard screenshots: {folder}")  # noqa: T201 - the test prints where they are
    return folder


@pytest.fixture
def stack() -> Iterator[str]:
    name = f"d{uuid.uuid4().hex[:8]}"
    yield name
    client = docker.from_env()
    try:
        for prefix in (f"devarch-{name}-", f"devarch-{name}c-"):
            for c in client.containers.list(all=True, filters={"name": prefix}):
                with contextlib.suppress(Exception):
                    c.remove(force=True)
            for n in client.networks.list(names=[prefix]):
                with contextlib.suppress(Exception):
                    n.remove()
            for v in client.volumes.list(filters={"name": prefix}):
                with contextlib.suppress(Exception):
                    v.remove(force=True)
    finally:
        client.close()


def _until(check: Any, timeout: float, what: str) -> None:
    """Poll ``check()`` until true (the page's CSP forbids Playwright's eval-based waits)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.25)


def _open(page: Any, selector: str) -> Any:
    """A field's ``<details>`` section, opened (with the keyboard) if it is closed."""
    section = page.locator(selector)
    if section.get_attribute("open") is None:
        section.locator("summary").focus()
        section.locator("summary").press("Enter")
    return section


#: The focused element's text and outline (style, width).
FOCUS_JS = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  return [el.textContent.trim(), style.outlineStyle, style.outlineWidth];
}"""


class Pages:
    """A browser page plus the checks every page gets (screenshots, accessible names)."""

    def __init__(self, page: Any, shots: Path) -> None:
        self.page = page
        self.shots = shots
        self.count = 0

    def check(self, label: str) -> None:
        """Screenshot the page as it is at both sizes; assert every control is labelled.

        The phone size is the same page resized (not a second request), so a page that shows a
        refused form's errors is seen with them.
        """
        self.count += 1
        self.page.screenshot(path=str(self.shots / f"{self.count:02d}-{label}-desktop.png"))
        unlabelled = self.page.evaluate(UNLABELLED_JS)
        assert unlabelled == [], f"{label}: controls without an accessible name: {unlabelled}"
        self.page.set_viewport_size(SIZES["phone"])
        try:
            self.page.screenshot(path=str(self.shots / f"{self.count:02d}-{label}-phone.png"))
            # Nothing but scroll areas may be wider than a phone's screen.
            width = self.page.evaluate("document.documentElement.scrollWidth")
            assert width <= SIZES["phone"]["width"] + 2, f"{label}: the page is {width}px wide"
        finally:
            self.page.set_viewport_size(SIZES["desktop"])


def test_a_user_builds_applies_and_cleans_up_a_stack(  # noqa: PLR0915 - one story, page by page
    browser: Any,
    served: str,
    shots: Path,
    stack: str,
) -> None:
    desktop = browser.new_context(viewport=SIZES["desktop"])
    page = desktop.new_page()
    page.set_default_timeout(20_000)
    # The printed URL carries the token once; the server turns it into a cookie and redirects.
    page.goto(served)
    assert page.url.endswith("/stacks"), page.url
    assert "token=" not in page.url
    base = served.split("/?", 1)[0]
    pages = Pages(page, shots)
    pages.check("stacks-empty")
    # Keyboard: the first Tab reaches "Skip to content", and every focus is visibly outlined.
    page.goto(f"{base}/stacks")
    for expected in ("Skip to content", None):
        page.keyboard.press("Tab")
        text, outline, width = page.evaluate(FOCUS_JS)
        if expected is not None:
            assert text == expected
        assert outline != "none", f"no visible focus on {text!r}"
        assert width != "0px", f"no visible focus on {text!r}"

    # -- create the stack, from the form, with the keyboard -----------------------------------
    page.get_by_label("Name", exact=True).fill(stack)
    page.get_by_label("Description").fill("made in the browser")
    page.get_by_label("Description").press("Enter")
    page.wait_for_url(re.compile(rf"/stacks/{stack}\?done=created"))
    assert page.get_by_role("heading", name=f"Stack {stack}").is_visible()

    # A bad name gets the core's problem next to the field, and nothing is created.
    page.goto(base + "/stacks")
    page.get_by_label("Name", exact=True).fill("Not Valid!")
    page.get_by_role("button", name="Create stack").click()
    alert = page.locator("#create-h + form .error")
    assert alert.is_visible()
    assert "name" in alert.inner_text()
    pages.check("stacks-error")

    # -- add instances from the catalog ------------------------------------------------------
    for name, template in (("db", "bb-db"), ("db2", "bb-db"), ("worker", "bb-worker")):
        page.goto(f"{base}/stacks/{stack}")
        page.get_by_label("Template").fill(f"{template}@1.0")
        page.get_by_label("Instance name").fill(name)
        page.get_by_role("button", name="Add instance").click()
        page.wait_for_url(re.compile(rf"/stacks/{stack}/instances/{name}\?done=added"))
    pages.check("instance-added")

    # The catalog filter narrows the list as one types.
    page.goto(f"{base}/stacks/{stack}")
    page.get_by_text("Browse the catalog").click()
    page.get_by_label("Filter").fill("worker")
    visible = page.locator("#catalog-list li:visible")
    assert visible.count() == 1
    assert "bb-worker" in visible.inner_text()
    pages.check("stack-instances")

    # -- override an env var (worker) and a port (db) -----------------------------------------
    page.goto(f"{base}/stacks/{stack}/instances/worker")
    env = _open(page, "#field-environment")
    env.get_by_label("Variable").fill("APP_MODE")
    env.get_by_label("Value").fill("from-the-dashboard")
    env.get_by_role("button", name="Set environment").click()
    page.wait_for_url(re.compile(r"done=override"))
    env = page.locator("#field-environment")
    assert "environment.APP_MODE" in env.inner_text()
    assert "(user)" in env.inner_text()

    host_port = _free_port()
    page.goto(f"{base}/stacks/{stack}/instances/db")
    ports = _open(page, "#field-ports")
    ports.get_by_label("Entry").fill("nonsense:port")
    ports.get_by_role("button", name="Set ports").click()
    error = page.locator("#field-ports .error")
    assert error.is_visible()
    assert "port" in error.inner_text()
    pages.check("override-error")
    ports = page.locator("#field-ports")
    ports.get_by_label("Entry").fill(f"{host_port}:5432")
    ports.get_by_role("button", name="Set ports").click()
    page.wait_for_url(re.compile(r"done=override"))
    assert str(host_port) in page.locator("#field-ports").inner_text()

    # -- the ambiguous wire: the plan says so; the picker resolves it --------------------------
    page.goto(f"{base}/stacks/{stack}?tab=deploy")
    diagnostics = page.get_by_label("Wiring diagnostics")
    assert "ambiguous" in diagnostics.inner_text()
    assert page.get_by_role("button", name="Apply this plan").is_disabled()
    pages.check("plan-ambiguous")

    page.goto(f"{base}/stacks/{stack}/instances/worker#wires")
    row = page.locator("#wire-db")
    assert "ambiguous" in row.inner_text()
    row.get_by_label("Provider of db").select_option("db2")
    row.get_by_role("button", name="Wire db").click()
    page.wait_for_url(re.compile(r"done=wired"))
    assert "explicit" in page.locator("#wire-db").inner_text()
    pages.check("instance")

    page.goto(f"{base}/stacks/{stack}?tab=wiring")
    assert page.locator("figure.graph svg").count() == 1
    pages.check("wiring")
    page.goto(f"{base}/stacks/{stack}?tab=compose")
    assert f"devarch-{stack}-db" in page.locator("pre.code").inner_text()
    pages.check("compose")

    # -- review the plan diff, apply it, watch the progress ----------------------------------
    page.goto(f"{base}/stacks/{stack}?tab=deploy")
    for name in ("db", "db2", "worker"):
        assert page.get_by_label(f"add {name}", exact=True).is_visible()
    diff = page.get_by_label("add worker", exact=True).inner_text()
    assert "environment.APP_MODE" in diff
    assert "from-the-dashboard" in diff
    pages.check("plan")
    page.get_by_role("button", name="Apply this plan").click()
    page.wait_for_url(re.compile(rf"/stacks/{stack}/jobs/"))
    state = page.locator("#job-state")
    _until(lambda: state.inner_text() != "running", 120, "the apply to end")
    assert state.inner_text() == "succeeded"
    events = page.locator("#events").inner_text()
    assert "worker" in events
    pages.check("apply-progress")

    # -- healthy, live; the logs of one instance ---------------------------------------------
    page.goto(f"{base}/stacks/{stack}")
    for name in ("db", "db2", "worker"):
        health = page.locator(f"#instance-{name} .health")
        _until(lambda h=health: h.inner_text().strip() == "healthy", 60, f"{name} healthy (live)")
    pages.check("stack-healthy")
    page.goto(f"{base}/stacks/{stack}/instances/worker#logs")
    lines = page.locator("#log-lines")
    _until(lambda: "worker: database" in lines.inner_text(), 30, "the worker's log lines")
    logs = lines.inner_text()
    assert f"devarch-{stack}-db2" in logs or "db2" in logs
    # Live: a new line shows up while the page is open (the worker writes one every 5 s).
    shown = logs.count("worker: database")
    _until(lambda: lines.inner_text().count("worker: database") > shown, 30, "a live log line")

    # -- the instance's Stop, Start and Restart buttons ------------------------------------
    state = page.locator("span.state")
    for verb, done, expected in (
        ("Stop", "stopped", "exited"),
        ("Start", "started", "running"),
        ("Restart", "restarted", "running"),
    ):
        page.get_by_role("button", name=verb, exact=True).click()
        page.wait_for_url(re.compile(rf"done={done}"))
        assert state.inner_text() == expected, verb

    # -- the engine agrees (docker SDK) ------------------------------------------------------
    client = docker.from_env()
    try:
        containers = {
            c.name: c for c in client.containers.list(filters={"name": f"devarch-{stack}-"})
        }
        assert set(containers) == {f"devarch-{stack}-{n}" for n in ("db", "db2", "worker")}
        worker = containers[f"devarch-{stack}-worker"]
        assert "APP_MODE=from-the-dashboard" in worker.attrs["Config"]["Env"]
        db_env = dict(e.split("=", 1) for e in worker.attrs["Config"]["Env"])
        assert db_env["DB_HOST"].endswith("db2") or db_env["DB_HOST"] == "db2"
        bindings = containers[f"devarch-{stack}-db"].attrs["HostConfig"]["PortBindings"]
        assert bindings["5432/tcp"][0]["HostPort"] == str(host_port)
    finally:
        client.close()

    # -- clone, then delete the clone (with confirmation) ------------------------------------
    clone = f"{stack}c"
    page.goto(f"{base}/stacks")
    page.get_by_label(f"Clone {stack} as", exact=True).fill(clone)
    page.locator(f"#stack-{stack}").get_by_role("button", name="Clone").click()
    page.wait_for_url(re.compile(rf"/stacks/{clone}\?done=cloned"))
    page.goto(f"{base}/stacks")
    assert page.locator(f"#stack-{clone}").is_visible()
    pages.check("stacks")
    page.locator(f"#stack-{clone}").get_by_role("link", name=f"Delete {clone}").click()
    page.get_by_label("to confirm").fill("some-other-name")
    page.get_by_role("button", name=f"Delete {clone}").click()
    assert "confirm" in page.locator(".error").inner_text()  # not confirmed: nothing deleted
    pages.check("delete-confirm")
    page.get_by_label("to confirm").fill(clone)
    page.get_by_role("button", name=f"Delete {clone}").click()
    page.wait_for_url(re.compile(r"/stacks\?done=deleted"))
    assert page.locator(f"#stack-{clone}").count() == 0
    assert page.locator(f"#stack-{stack}").is_visible()

    # -- down from the Deploy tab -----------------------------------------------------------
    page.goto(f"{base}/stacks/{stack}?tab=deploy")
    page.get_by_role("button", name=f"Down {stack}").click()
    page.wait_for_url(re.compile(rf"/stacks/{stack}/jobs/"))
    state = page.locator("#job-state")
    _until(lambda: state.inner_text() != "running", 120, "down to end")
    assert state.inner_text() == "succeeded"
    client = docker.from_env()
    try:
        assert client.containers.list(all=True, filters={"name": f"devarch-{stack}-"}) == []
        assert client.containers.list(all=True, filters={"name": f"devarch-{clone}-"}) == []
    finally:
        client.close()
    assert len(list(shots.glob("*.png"))) == 2 * pages.count
    desktop.close()
