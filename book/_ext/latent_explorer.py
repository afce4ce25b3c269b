"""Serve the latent-space explorer's script and style on the pages that embed it.

A chapter embeds the explorer as a notebook output: ``div.latent-explorer`` holding
its data as inline JSON (``snippets.chapters.latent.explorer_html``). This extension
adds ``book/_static`` to the static files of the build (copied into
``<html>/_static/``) and, on those pages only, loads ``latent-explorer.js`` (a classic
script, so it runs from ``file://`` too) and ``latent-explorer.css``.
"""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).resolve().parents[1] / "_static"
MARKER = 'class="latent-explorer"'


def _add_static_path(app, config) -> None:
    if str(STATIC) not in config.html_static_path:
        config.html_static_path.append(str(STATIC))


def _add_assets(app, pagename, templatename, context, doctree) -> None:
    if MARKER in context.get("body", ""):
        app.add_js_file("latent-explorer.js")
        app.add_css_file("latent-explorer.css")


def setup(app):
    app.connect("config-inited", _add_static_path)
    app.connect("html-page-context", _add_assets)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
