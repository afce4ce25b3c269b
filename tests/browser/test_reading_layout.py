"""The built book read as a person reads it, at 1,280 pixels: one search box, figures
that fill the text column, code that fits it.

* ``test_one_search_box``                      the intro and a chapter show exactly one
                                               search field (an unpinned book theme shows
                                               pydata's header field above the sidebar's).
* ``test_figures_fill_the_text_column``        every figure a chapter's cells output is
                                               displayed at least as wide as the prose's
                                               column (less would shrink its text further).
* ``test_code_blocks_fit_the_text_column``     no code block on a chapter page is wider
                                               than its box (a reader would scroll sideways).
"""

from __future__ import annotations

import pytest
from book_site import NOTEBOOK_DOCS

notebook_pages = pytest.mark.parametrize("chapter", NOTEBOOK_DOCS, indirect=True)

# The widest paragraph of the article: the text column.
_TEXT_COLUMN = """() => Math.max(0, ...[...document.querySelectorAll('article.bd-article p')]
    .map(p => p.getBoundingClientRect().width))"""

# Search fields a reader can see (rendered with a size and not hidden).
_VISIBLE_SEARCH_FIELDS = """() => [...document.querySelectorAll('.search-button-field, form.bd-search')]
    .filter(e => e.checkVisibility() && e.getBoundingClientRect().width > 0).length"""

# Figures output by code cells: [source, displayed width].
_FIGURES = """() => [...document.querySelectorAll('article.bd-article .cell_output img')]
    .map(img => [img.getAttribute('src'), img.getBoundingClientRect().width])"""

# Code blocks wider than their box: [first line, overflow in pixels].
_OVERFLOWING_CODE = """() => [...document.querySelectorAll('article.bd-article div.highlight pre')]
    .filter(pre => pre.scrollWidth > pre.clientWidth + 1)
    .map(pre => [pre.textContent.split('\\n')[0].slice(0, 60), pre.scrollWidth - pre.clientWidth])"""

# sphinx-book-theme 1.3.0 (pydata-sphinx-theme 0.17.1) also shows pydata's header search field
# above the sidebar's; book/_static/reading.css hides the header's on wide screens.
@pytest.mark.parametrize("path", ["book/intro.html", f"{NOTEBOOK_DOCS[0]}.html"])
def test_one_search_box(tab, path):
    page = tab(path).page
    assert page.evaluate(_VISIBLE_SEARCH_FIELDS) == 1, f"{path}: not exactly one visible search field"


@pytest.mark.parametrize("chapter", NOTEBOOK_DOCS, indirect=True)
def test_figures_fill_the_text_column(chapter):
    column = chapter.page.evaluate(_TEXT_COLUMN)
    assert column > 0, f"{chapter.path}: no paragraph to measure the text column by"
    narrow = [(src, round(width)) for src, width in chapter.page.evaluate(_FIGURES) if width < column - 1]
    assert not narrow, f"{chapter.path}: figures narrower than the {column:.0f} px text column: {narrow}"


# book/_static/reading.css sets code in a size at which the column holds 89 characters
# (measured: a 90-character line overflows by 5 pixels), and a dropdown card's listing
# the same, so the 88 columns the code and its printed output are written to fit.
@pytest.mark.parametrize("chapter", NOTEBOOK_DOCS, indirect=True)
def test_code_blocks_fit_the_text_column(chapter):
    overflowing = chapter.page.evaluate(_OVERFLOWING_CODE)
    assert not overflowing, f"{chapter.path}: code blocks wider than the column ([first line, px]): {overflowing}"


def test_the_status_table_says_succeeded_in_words(tab):
    # Emoji render as empty boxes where no emoji font is installed.
    text = tab("book/status.html").page.inner_text("article")
    assert "succeeded" in text
    assert "\u2705" not in text and "\u274c" not in text
