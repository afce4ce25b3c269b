"""The built HTML book, checked in a real (headless) Chromium.

Every document in _toc.yml is opened once, over HTTP from a local server, and checked:

* ``test_math_rendered``      pages with math: every ``.math`` node was typeset by MathJax
                              (holds an ``mjx-container``), and MathJax reported no
                              errors (``mjx-merror``); every page: no raw ``$$`` / ``\\[``
                              left in the visible text outside code.
* ``test_images_load``        every ``<img>`` (figures, logos) finished loading with
                              ``naturalWidth > 0``.
* ``test_copy_buttons``       every code cell's input has a sphinx-copybutton button;
                              clicking the first and last visible one puts exactly that
                              block's text on the clipboard (read back with
                              ``navigator.clipboard.readText()``) and marks the button
                              as successful.
* ``test_download_button``    the download menu opens and offers the page's source file
                              (which the server returns) and "print to PDF".
* ``test_launch_button``      notebook pages: the launch menu opens and offers "Colab"
                              with a link to this notebook in the configured repository.
* ``test_no_console_errors``  runs after the checks above on each page, so it covers the clicks
                              above: no console error, no uncaught exception, no failed
                              local request, no request that leaves localhost (none is
                              let through: MathJax is the book's own, _static/mathjax).

Plus: every toc entry was built, and ``search.html?q=ELBO`` lists the ELBO chapter.
test_offline_math.py checks the bundled MathJax, also from ``file://`` with no network.
A failing check saves a full-page screenshot (see conftest.py).
"""

from __future__ import annotations

import re

import pytest
import yaml
from book_site import NOTEBOOK_DOCS, ROOT, TOC_DOCS, source_suffix

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())

# Each chapter page is loaded once (session-scoped ``chapter`` fixture) and shared by
# the checks below and those of test_reading_layout.py, which only measure the page:
# pytest runs a page's checks together, this file's first, in order, page by page.
all_pages = pytest.mark.parametrize("chapter", TOC_DOCS, indirect=True)
notebook_pages = pytest.mark.parametrize("chapter", NOTEBOOK_DOCS, indirect=True)


def test_every_toc_entry_was_built(html_dir):
    missing = [doc for doc in TOC_DOCS if not (html_dir / f"{doc}.html").is_file()]
    assert not missing, f"toc entries without a built page: {missing}"
    assert len(TOC_DOCS) >= 2 and NOTEBOOK_DOCS, "the toc parser found no chapters"


# JavaScript run in the page. Visible text outside code, so that a `$$` in a code
# listing or a printed string does not count, but unrendered math in prose does.
_PROSE_TEXT = """() => {
  const main = document.querySelector('main') || document.body;
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT, {
    acceptNode(node) {
      const el = node.parentElement;
      if (!el || el.closest('pre, code, script, style, mjx-container, mjx-assistive-mml'))
        return NodeFilter.FILTER_REJECT;
      if (!el.checkVisibility || el.checkVisibility()) return NodeFilter.FILTER_ACCEPT;
      return NodeFilter.FILTER_REJECT;
    }
  });
  const parts = [];
  while (walker.nextNode()) parts.push(walker.currentNode.nodeValue);
  return parts.join(' ');
}"""


@all_pages
def test_math_rendered(chapter):
    page = chapter.page
    n_math = page.locator(".math").count()
    assert chapter.mathjax_error is None, chapter.mathjax_error
    if n_math:
        assert page.evaluate("() => !!window.MathJax && !!MathJax.startup"), (
            "page has math but MathJax did not start"
        )
        untypeset = page.evaluate(
            """() => [...document.querySelectorAll('.math')]
                 .filter(el => !el.querySelector('mjx-container'))
                 .map(el => el.textContent.trim().slice(0, 80))"""
        )
        assert not untypeset, f"{len(untypeset)} of {n_math} math nodes not typeset: {untypeset[:5]}"
        errors = page.evaluate(
            """() => [...document.querySelectorAll('mjx-merror')]
                 .map(el => (el.getAttribute('data-mjx-error') || el.textContent).slice(0, 120))"""
        )
        assert not errors, f"MathJax errors: {errors}"
    prose = page.evaluate(_PROSE_TEXT)
    raw = [m.group(0) for m in re.finditer(r"\$\$.{0,60}|\\\[.{0,60}|\\\(.{0,60}", prose)]
    assert not raw, f"raw TeX in the visible text: {raw[:5]}"


@all_pages
def test_images_load(chapter):
    page = chapter.page
    # Bring each image into view (in case any is lazy), then wait for it to settle.
    broken = page.evaluate(
        """async () => {
          const imgs = [...document.images];
          for (const img of imgs) img.scrollIntoView({block: 'center'});
          await Promise.all(imgs.map(img => img.complete ? null :
            new Promise(done => { img.addEventListener('load', done);
                                  img.addEventListener('error', done); })));
          window.scrollTo(0, 0);
          return imgs.filter(img => !(img.complete && img.naturalWidth > 0))
                     .map(img => img.getAttribute('src').slice(0, 120));
        }"""
    )
    assert not broken, f"images that did not load: {broken}"


@all_pages
def test_copy_buttons(chapter):
    page = chapter.page
    cells = page.locator("div.cell_input div.highlight")
    n_cells = cells.count()
    if not n_cells:
        # Markdown pages: any code block still gets a copy button.
        cells = page.locator("div.highlight")
        n_cells = cells.count()
        if not n_cells:
            pytest.skip("no code on this page")
    without = [i for i in range(n_cells) if cells.nth(i).locator("button.copybtn").count() != 1]
    assert not without, f"code blocks without a copy button: {without} of {n_cells}"

    # Click the first and the last code block a reader can see (blocks inside a
    # collapsed dropdown, e.g. in the gallery, cannot be clicked without opening it).
    visible = cells.evaluate_all(
        "els => els.map((el, i) => el.checkVisibility() ? i : -1).filter(i => i >= 0)"
    )
    assert visible, f"none of the {n_cells} code blocks is visible"
    for i in sorted({visible[0], visible[-1]}):
        cell = cells.nth(i)
        page.evaluate("() => navigator.clipboard.writeText('<clipboard not written>')")
        cell.scroll_into_view_if_needed()
        cell.hover()
        cell.locator("button.copybtn").click()
        expected = cell.locator("pre").inner_text()
        copied = page.evaluate("() => navigator.clipboard.readText()")
        assert copied.strip() == expected.strip(), (
            f"copy button of code block {i} put {copied[:80]!r} on the clipboard, "
            f"expected {expected[:80]!r}"
        )
        # sphinx-copybutton confirms a successful copy on the button itself.
        assert cell.locator("button.copybtn.success").count() == 1, (
            f"copy button of code block {i} did not report success"
        )


@all_pages
def test_download_button(chapter, html_dir):
    page = chapter.page
    menu = page.locator(".dropdown-download-buttons")
    assert menu.count() == 1, "no download button"
    menu.locator("button.dropdown-toggle").click()
    source = menu.locator("a.btn-download-source-button")
    source.wait_for(state="visible")
    href = source.get_attribute("href")
    doc = chapter.path.removesuffix(".html")
    assert href.endswith(f"_sources/{doc}{source_suffix(doc)}"), f"source link is {href}"
    response = page.request.get(page.url.rsplit("/", 1)[0] + "/" + href)
    assert response.ok, f"source file {href}: HTTP {response.status}"
    assert menu.locator("button.btn-download-pdf-button").is_visible(), "no print-to-PDF entry"
    page.keyboard.press("Escape")


@notebook_pages
def test_launch_button(chapter):
    page = chapter.page
    menu = page.locator(".dropdown-launch-buttons")
    assert menu.count() == 1, "no launch button on a notebook page"
    menu.locator("button.dropdown-toggle").click()
    colab = menu.locator("a", has_text="Colab")
    colab.wait_for(state="visible")
    repo = CONFIG["repository"]["url"].removeprefix("https://github.com/").strip("/")
    branch = CONFIG["repository"].get("branch", "main")
    doc = chapter.path.removesuffix(".html")
    expected = f"{CONFIG['launch_buttons']['colab_url']}/github/{repo}/blob/{branch}/{doc}.ipynb"
    assert colab.get_attribute("href") == expected
    # The Colab link is not followed: the test machine is offline.
    page.keyboard.press("Escape")


@all_pages
def test_no_console_errors(chapter):
    failed = [r for r in chapter.failed_requests if not any(r.startswith(b) for b in chapter.blocked)]
    problems = chapter.problems() + [f"failed request: {r}" for r in failed]
    assert not problems, f"{chapter.path}:\n  " + "\n  ".join(problems)


def test_search_finds_elbo(tab):
    visit = tab("search.html?q=ELBO")
    page = visit.page
    results = page.locator("#search-results ul.search li")
    results.first.wait_for(state="visible")
    # searchtools.js adds results one by one; wait for its summary line.
    page.wait_for_function(
        "() => /found \\d+ page|Search finished/i.test("
        "document.querySelector('#search-results')?.innerText || '')"
    )
    links = [a.get_attribute("href") for a in results.locator("a").all()]
    assert any("book/theory/elbo.html" in (href or "") for href in links), (
        f"search for ELBO did not list the ELBO chapter; results: {links}"
    )
    assert not visit.problems(), "\n".join(visit.problems())
