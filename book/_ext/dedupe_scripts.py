"""Drop repeated <script> tags that jupyter-book 1.x emits twice on every page.

Inline scripts added with ``app.add_js_file(None, body=...)`` (sphinx-thebe's
``const THEBE_JS_URL = ...``, sphinx-togglebutton's selector) reach the page twice,
once with filename ``None`` and once with ``''``; Sphinx's de-duplication treats the
two as different. The second ``const`` declaration is a SyntaxError in every browser.
"""


def _dedupe(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for js in context.get("script_files", []):
        filename = getattr(js, "filename", js) or ""
        attributes = tuple(sorted(getattr(js, "attributes", {}).items()))
        key = (filename, attributes)
        if key not in seen:
            seen.add(key)
            unique.append(js)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
