"""Bundle MathJax 3 into the built book, so that its math renders without a network.

``mathjax_path`` in ``_config.yml`` is ``mathjax/tex-mml-chtml.js``, a path relative to
the book's ``_static`` folder. This extension copies what that MathJax component needs
at run time from the ``mathjax@3`` npm package (``make setup-mathjax`` installs it under
``_build/tools/mathjax``; ``make book`` and ``make test`` run it) into
``<html>/_static/mathjax/``:

* ``tex-mml-chtml.js``: the loader, TeX and MathML input, CHTML output, the menu and
  the assistive MathML, in one file;
* ``output/chtml/fonts/woff-v2/*.woff``: the CHTML fonts, which MathJax's CSS loads
  lazily, one per font a formula uses.

Nothing else is requested by the book's math (checked in Chromium, tests/browser). A
TeX package that the TeX input loads on demand (``\\require``, or a macro of an
autoloaded package such as ``\\boldsymbol`` or ``\\cancel``) comes from
``input/tex/extensions/<name>.js``; add such files to ``EXTRA_FILES`` below when the
book starts using one (the browser tests fail on the request for a missing file).

A missing or wrong MathJax fails the build, before any notebook is executed; the book
never falls back to a CDN. ``VAE_BOOK_MATHJAX`` points at another copy of the npm
package (the folder holding its ``package.json`` and ``es5/``).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PACKAGE = ROOT / "_build" / "tools" / "mathjax" / "node_modules" / "mathjax"
INSTALL_HINT = (
    "run `make setup-mathjax` (npm install --prefix _build/tools/mathjax mathjax@3), "
    "or point VAE_BOOK_MATHJAX at a mathjax@3 npm package"
)

# mathjax_path, relative to _static; the component whose run-time needs FILES lists.
BUNDLE_PATH = "mathjax/tex-mml-chtml.js"
# Below the package's es5/ folder: the component and the fonts it loads lazily.
FILES = ["tex-mml-chtml.js"]
FONT_GLOB = "output/chtml/fonts/woff-v2/*.woff"
# TeX extensions the book's math loads on demand (none today).
EXTRA_FILES: list[str] = []


def _package() -> Path:
    return Path(os.environ.get("VAE_BOOK_MATHJAX") or DEFAULT_PACKAGE)


def _bundle_files(es5: Path) -> list[Path]:
    """Every file of the bundle, relative to es5/, or an ExtensionError naming what is missing."""
    files = [Path(name) for name in FILES + EXTRA_FILES]
    fonts = sorted(p.relative_to(es5) for p in es5.glob(FONT_GLOB))
    if not fonts:
        raise ExtensionError(f"MathJax 3: no CHTML fonts ({FONT_GLOB}) in {es5}; {INSTALL_HINT}")
    missing = [str(f) for f in files if not (es5 / f).is_file()]
    if missing:
        raise ExtensionError(f"MathJax 3: {', '.join(missing)} missing in {es5}; {INSTALL_HINT}")
    return files + fonts


def _check(app) -> None:
    """At builder-inited: fail now, before hours of notebook execution, not at the end."""
    if app.builder.format != "html":
        return
    if app.config.mathjax_path != BUNDLE_PATH:
        raise ExtensionError(
            f"mathjax_path is {app.config.mathjax_path!r}; the book bundles MathJax 3 and "
            f"needs mathjax_path: {BUNDLE_PATH} (relative to _static), never a CDN URL"
        )
    package = _package()
    manifest = package / "package.json"
    if not manifest.is_file():
        raise ExtensionError(f"MathJax 3 is not installed: no {manifest}; {INSTALL_HINT}")
    version = json.loads(manifest.read_text()).get("version", "")
    if not version.startswith("3."):
        raise ExtensionError(
            f"MathJax at {package} is version {version or '?'}; the book needs MathJax 3 "
            f"(its es5/ components); {INSTALL_HINT}"
        )
    app._mathjax_offline = (package / "es5", _bundle_files(package / "es5"), version)


def _copy(app, exception) -> None:
    """At build-finished: _static/mathjax/ holds exactly the bundle, nothing stale."""
    state = getattr(app, "_mathjax_offline", None)
    if exception is not None or state is None:
        return
    es5, files, version = state
    target = Path(app.outdir) / "_static" / Path(BUNDLE_PATH).parent
    if target.exists():
        shutil.rmtree(target)
    size = 0
    for rel in files:
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(es5 / rel, dest)
        size += dest.stat().st_size
    logger.info(f"MathJax {version} bundled into {target} ({len(files)} files, {size / 1024:.0f} KB)")


def setup(app):
    app.connect("builder-inited", _check)
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
