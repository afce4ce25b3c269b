"""Math without a network: the book typesets its formulas with its own MathJax.

The book bundles MathJax 3 in ``_static/mathjax`` (``mathjax_path`` in ``_config.yml``,
``book/_ext/mathjax_offline.py``); nothing routes a CDN to a local copy.

* ``test_mathjax_is_bundled``     every built page that loads MathJax loads the bundled
                                  ``_static/mathjax/tex-mml-chtml.js`` by a relative
                                  path, no page loads a script from another host, and
                                  the bundle is small (the component and its fonts).
* ``test_math_typeset_offline``   the ELBO chapter, opened over localhost with every
                                  other request aborted (``http``) and from ``file://``
                                  in a context with no network at all (``file``, how a
                                  downloaded copy is read): every formula is typeset
                                  (``mjx-container``, no ``mjx-merror``), no raw ``$$`` /
                                  ``\\(`` / ``\\[`` is left in the text, MathJax and its
                                  fonts came from the book's own folder and every font
                                  loaded, and nothing asked for the network.
"""

from __future__ import annotations

import re

import pytest
from test_book_html import _PROSE_TEXT

MATH_PAGE = "book/theory/elbo.html"
BUNDLE = "_static/mathjax/tex-mml-chtml.js"
# tex-mml-chtml.js (~1.1 MB) and the 23 CHTML woff-v2 fonts (~0.4 MB): a margin for a
# few TeX extensions, but not for a copy of the whole npm package (~24 MB of es5/).
MAX_BUNDLE_KB = 2048

_SCRIPT_SRC = re.compile(r"<script\b[^>]*\bsrc=\"([^\"]+)\"", re.IGNORECASE)


def test_mathjax_is_bundled(html_dir):
    bundle = html_dir / BUNDLE
    assert bundle.is_file(), f"{bundle} is missing: the build did not bundle MathJax"
    fonts = sorted((html_dir / "_static/mathjax/output/chtml/fonts/woff-v2").glob("*.woff"))
    assert fonts, "the bundle has no CHTML fonts (output/chtml/fonts/woff-v2)"
    size_kb = sum(p.stat().st_size for p in bundle.parent.rglob("*") if p.is_file()) / 1024
    assert size_kb <= MAX_BUNDLE_KB, f"_static/mathjax is {size_kb:.0f} KB (> {MAX_BUNDLE_KB} KB)"

    with_mathjax, remote = [], []
    for page in sorted(html_dir.rglob("*.html")):
        rel = page.relative_to(html_dir).as_posix()
        if rel.startswith("_"):  # _static, _sources, _images: not pages of the book
            continue
        for src in _SCRIPT_SRC.findall(page.read_text(encoding="utf-8")):
            if re.match(r"(https?:)?//", src):
                remote.append(f"{rel}: {src}")
            elif "mathjax" in src.lower():
                prefix = "../" * rel.count("/")
                # Sphinx may append a cache-busting query (?v=<hash>) to a script's URL.
                assert src.split("?")[0] == prefix + BUNDLE, f"{rel} loads MathJax from {src!r}"
                with_mathjax.append(rel)
    assert not remote, "pages load scripts from the network:\n  " + "\n  ".join(remote)
    assert MATH_PAGE in with_mathjax, f"{MATH_PAGE} does not load MathJax"


@pytest.mark.parametrize("how", ["http", "file"])
def test_math_typeset_offline(how, tab, offline_tab):
    visit = tab(MATH_PAGE) if how == "http" else offline_tab(MATH_PAGE)
    page = visit.page
    assert visit.mathjax_error is None, f"{visit.mathjax_error} (blocked: {visit.blocked})"

    n_math = page.locator(".math").count()
    assert n_math >= 5, f"{MATH_PAGE} has only {n_math} math nodes; is it still the math page?"
    untypeset = page.evaluate(
        """() => [...document.querySelectorAll('.math')]
             .filter(el => !el.querySelector('mjx-container'))
             .map(el => el.textContent.trim().slice(0, 80))"""
    )
    assert not untypeset, f"{len(untypeset)} of {n_math} math nodes not typeset: {untypeset[:5]}"
    assert page.locator("mjx-container").count() >= n_math
    assert page.locator("mjx-merror").count() == 0, "MathJax reported errors"
    prose = page.evaluate(_PROSE_TEXT)
    raw = [m.group(0) for m in re.finditer(r"\$\$.{0,60}|\\\[.{0,60}|\\\(.{0,60}", prose)]
    assert not raw, f"raw TeX in the visible text: {raw[:5]}"

    # MathJax and every font it asked for came from the book's own _static/mathjax.
    script = page.evaluate("() => document.querySelector('script[src*=\"tex-mml-chtml\"]')?.src || ''")
    base = visit.url.removesuffix(visit.path)
    # Sphinx appends "?v=<checksum>" when the file is already in the output folder
    # (a rebuild); the query does not change which file is loaded.
    loaded = script.partition("?")[0]
    assert loaded == base + BUNDLE, f"MathJax loaded from {script!r}, not {base + BUNDLE}"
    fonts = page.evaluate(
        """async () => {
          await document.fonts.ready;
          return [...document.fonts].filter(f => /^MJX/.test(f.family.replace(/["']/g, '')))
                                    .map(f => [f.family, f.status]);
        }"""
    )
    failed_fonts = [family for family, status in fonts if status == "error"]
    assert not failed_fonts, f"MathJax fonts that failed to load: {failed_fonts}"
    assert any(status == "loaded" for _, status in fonts), f"no MathJax font loaded: {fonts}"
    foreign = [url for url in visit.requests if not visit.is_local(url) and not url.startswith("data:")]
    assert not foreign, f"requests that left the book: {foreign}"
    fetched = [url for url in visit.requests if url.startswith(base + "_static/mathjax/")]
    assert any(url.endswith(".woff") for url in fetched), f"no bundled font was fetched: {fetched}"

    failed = [r for r in visit.failed_requests if not any(r.startswith(b) for b in visit.blocked)]
    problems = visit.problems() + [f"failed request: {r}" for r in failed]
    assert not problems, f"{visit.url}:\n  " + "\n  ".join(problems)
