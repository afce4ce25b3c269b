"""Checked outputs never depend on the profile or the data source (static: ``json`` + ``ast``).

nbval compares a cell tagged ``nbval-check-output`` with the output stored by the
quick profile on the offline data. The same chapters also run in the full profile on
the downloaded MNIST (the GPU workflow, the published book), so a checked cell may print
only what holds for every profile and data source: weight counts of networks of fixed
size, shapes of fixed inputs, a reload check, invariants shown on a constructed example.

The rule, per notebook: a checked cell must not use the names ``config`` or ``data``
(``config = book_config()`` and what the chapter loads) or call ``book_config``, nor use
any name *derived* from them. A name is derived when an earlier statement of the notebook, in cell order,
assigned it from an expression that uses ``config``, ``data`` or a derived name:
``x = ...``, ``a, b = ...`` (element by element when both sides are tuples of the same
length), ``x += ...``, ``x[...] = ...`` and ``x.attr = ...`` (which taint ``x``),
``for x in ...``, ``with ... as x``, ``(x := ...)``. A plain rebinding at the top level of
a cell from a clean expression makes the name clean again; inside a loop, branch or
``with`` block an assignment can only add taint. Side effects of calls (``model.fit(data)``)
are not followed: a network trained on the data still has the weight count it was built
with, and a reload check compares it with itself.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
SKIP_DIRS = {"_build", ".ipynb_checkpoints", ".jupyter_cache", "node_modules", "__pycache__"}
CHECKED_TAG = "nbval-check-output"
# config = book_config() and data = load_...(config...): the profile and the data source.
# book_config itself, called in a checked cell, would read them as well.
SOURCES = frozenset({"config", "data", "book_config"})

# (notebook, index of the cell among all cells) allowed to break the rule: none. A checked
# cell prints facts of fixed-size networks or of constructed inputs; a fact about a model
# trained on the data (a reload check of it) is printed by an unchecked cell and proved by
# the unit tests. A test below fails on an entry that no longer breaks the rule.
KNOWN_VIOLATIONS: set[tuple[str, int]] = set()


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def find_notebooks() -> list[Path]:
    return sorted(p for p in BOOK.rglob("*.ipynb") if not SKIP_DIRS.intersection(p.parts))


NOTEBOOKS = find_notebooks()


def python_source(source: str) -> str:
    """The cell with IPython magics and shell escapes blanked out, so ``ast`` can parse it."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


# --- the analysis ----------------------------------------------------------------------


def target_names(target: ast.expr) -> list[str]:
    """The names an assignment target binds or mutates: ``x``, ``a, *b``, ``x[i]``, ``x.attr``."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in target_names(element)]
    if isinstance(target, ast.Starred):
        return target_names(target.value)
    if isinstance(target, (ast.Subscript, ast.Attribute)):
        return target_names(target.value)
    return []


class Taint:
    """Which names are derived from ``config``/``data`` at a point of the notebook."""

    def __init__(self) -> None:
        self.derived: set[str] = set()

    def is_source(self, name: str) -> bool:
        return name in SOURCES or name in self.derived

    def uses(self, node: ast.AST | None, local: dict[str, bool] | None = None) -> list[str]:
        """The source or derived names an expression reads.

        ``local`` maps the variables of the enclosing comprehensions (and lambda
        arguments) to whether they are derived; they hide the notebook's names.
        """
        local = local or {}
        if node is None:
            return []
        if isinstance(node, ast.Name):
            derived = local[node.id] if node.id in local else self.is_source(node.id)
            return [node.id] if derived else []
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            found, scope = [], dict(local)
            for generator in node.generators:
                iterated = self.uses(generator.iter, scope)
                found += iterated
                scope.update(dict.fromkeys(target_names(generator.target), bool(iterated)))
                found += [n for condition in generator.ifs for n in self.uses(condition, scope)]
            parts = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
            return found + [n for part in parts for n in self.uses(part, scope)]
        if isinstance(node, ast.Lambda):
            arguments = {a.arg: False for a in ast.walk(node.args) if isinstance(a, ast.arg)}
            return self.uses(node.body, {**local, **arguments})
        found = []
        for child in ast.iter_child_nodes(node):
            used = self.uses(child, local)
            found += used
            if isinstance(child, ast.NamedExpr):
                self.bind([child.target], child.value, found_in_value=bool(used), rebind=False)
        return found

    def bind(self, targets: list[ast.expr], value: ast.expr | None, *,
             found_in_value: bool, rebind: bool) -> None:
        for target in targets:
            if (isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List))
                    and len(target.elts) == len(value.elts)
                    and not any(isinstance(e, ast.Starred) for e in target.elts + value.elts)):
                for element, part in zip(target.elts, value.elts):
                    self.bind([element], part, found_in_value=bool(self.uses(part)), rebind=rebind)
                continue
            whole = isinstance(target, (ast.Name, ast.Tuple, ast.List, ast.Starred))
            for name in target_names(target):
                if found_in_value:
                    self.derived.add(name)
                elif rebind and whole:
                    self.derived.discard(name)

    def run(self, statements: list[ast.stmt], top_level: bool = True) -> list[str]:
        """Walk ``statements`` in order, updating the taint; return the source names they read."""
        found: list[str] = []
        for statement in statements:
            found += self.statement(statement, top_level)
        return found

    def statement(self, node: ast.stmt, top_level: bool) -> list[str]:
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            value = node.value
            used = self.uses(value)
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:  # x[data] = ... reads data
                if not isinstance(target, ast.Name):
                    used += self.uses(target)
            self.bind(targets, value, found_in_value=bool(used),
                      rebind=top_level and value is not None and not isinstance(node, ast.AugAssign))
            return used
        if isinstance(node, (ast.For, ast.AsyncFor)):
            used = self.uses(node.iter)
            self.bind([node.target], None, found_in_value=bool(used), rebind=top_level)
            for _ in range(2):  # twice: a name tainted late in the body taints the next pass
                body = self.run(node.body, top_level=False)
            return used + body + self.run(node.orelse, top_level=False)
        if isinstance(node, ast.While):
            used = self.uses(node.test)
            for _ in range(2):
                body = self.run(node.body, top_level=False)
            return used + body + self.run(node.orelse, top_level=False)
        if isinstance(node, (ast.With, ast.AsyncWith)):
            used = []
            for item in node.items:
                item_used = self.uses(item.context_expr)
                used += item_used
                if item.optional_vars is not None:
                    self.bind([item.optional_vars], None, found_in_value=bool(item_used), rebind=top_level)
            return used + self.run(node.body, top_level=False)
        if isinstance(node, ast.If):
            return (self.uses(node.test) + self.run(node.body, top_level=False)
                    + self.run(node.orelse, top_level=False))
        if isinstance(node, ast.Try):
            return (self.run(node.body, False) + [n for h in node.handlers for n in self.run(h.body, False)]
                    + self.run(node.orelse, False) + self.run(node.finalbody, False))
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                name = (alias.asname or alias.name).split(".")[0]
                if top_level:
                    self.derived.discard(name)
            return []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return []  # forbidden in chapters anyway (tests/test_house_rules.py, defs)
        return self.uses(node)


def violations(cells: list[dict], notebook: str = "notebook") -> list[tuple[int, str]]:
    """``(cell index, name)`` for every checked cell that reads config/data or a name derived from them."""
    taint, found = Taint(), []
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell.get("source", []))
        try:
            tree = ast.parse(python_source(source))
        except SyntaxError as error:
            pytest.fail(f"{notebook} cell {index}: does not parse ({error.msg}); the rule cannot check it",
                        pytrace=False)
        used = taint.run(tree.body)
        if CHECKED_TAG in cell.get("metadata", {}).get("tags", []):
            found += [(index, name) for name in dict.fromkeys(used)]
    return found


def notebook_cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8")).get("cells", [])


def findings(path: Path) -> dict[int, list[str]]:
    by_cell: dict[int, list[str]] = {}
    for index, name in violations(notebook_cells(path), rel(path)):
        by_cell.setdefault(index, []).append(name)
    return by_cell


# --- the rule --------------------------------------------------------------------------


def test_the_book_has_notebooks():
    assert NOTEBOOKS, "book/ holds no notebook; the rule would check nothing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[rel(p) for p in NOTEBOOKS])
def test_checked_cells_do_not_depend_on_the_profile_or_the_data(path):
    messages = [
        f"{rel(path)} cell {index}: uses {name} (derived from config/data)"
        for index, names in findings(path).items() if (rel(path), index) not in KNOWN_VIOLATIONS
        for name in names
    ]
    if messages:
        pytest.fail(
            "a cell tagged nbval-check-output depends on the profile or the data source, so its stored output "
            "(quick profile, offline data) fails in the full profile or on the downloaded MNIST; print "
            "only what holds for every run (fixed inputs, fixed-size networks, invariants), and move the "
            "data-dependent numbers to an unchecked cell or glue them:\n  " + "\n  ".join(messages),
            pytrace=False)


def test_known_violations_still_exist():
    """An entry of KNOWN_VIOLATIONS that was fixed (or whose cell moved) must leave the list."""
    stale = []
    for notebook, index in sorted(KNOWN_VIOLATIONS):
        path = ROOT / notebook
        if not path.exists() or index not in findings(path):
            stale.append(f"{notebook} cell {index}")
    assert not stale, ("KNOWN_VIOLATIONS lists cells that no longer break the rule; "
                       f"remove them from tests/test_checked_outputs.py: {', '.join(stale)}")


# --- the analysis, on small notebooks --------------------------------------------------


def code(source: str) -> dict:
    return {"cell_type": "code", "source": source}


def checked(source: str) -> dict:
    return {**code(source), "metadata": {"tags": [CHECKED_TAG]}}


@pytest.mark.parametrize(("cells", "expected"), [
    # direct use of the two sources
    ([checked("print(data.x_train.shape)")], [(0, "data")]),
    ([checked("print(config.pick(quick=1, full=2))")], [(0, "config")]),
    ([checked("print(book_config().profile)")], [(0, "book_config")]),
    # derived through a chain of assignments across cells
    ([code("split = split_out_digit(data, 1)"), code("n = len(split.x_train)"), checked("print(n)")],
     [(2, "n")]),
    ([code("epochs = config.pick(quick=2, full=10)"), code("model = fit(x, epochs=epochs)"),
      checked("print(model.count_params())")], [(2, "model")]),
    # a tuple assigned element by element: only the element from config is derived
    ([code("epochs, settings = config.pick(quick=2, full=10), dict(latent_dim=8)"),
      checked("print(settings)")], []),
    ([code("epochs, settings = config.pick(quick=2, full=10), dict(latent_dim=8)"),
      checked("print(epochs)")], [(1, "epochs")]),
    # ... but a tuple unpacked from one call is derived as a whole
    ([code("corrupted, clean = denoising_pairs(data.x_train)"), checked("print(clean.shape)")],
     [(1, "clean")]),
    # mutation of a container, loops, with, walrus
    ([code("runs = {}"), code("runs['plain'] = model.fit(data.x_train)"), checked("print(runs)")],
     [(2, "runs")]),
    ([code("for x in data.x_test:\n    pass"), checked("print(x)")], [(1, "x")]),
    ([code("with open(data.path) as handle:\n    pass"), checked("print(handle)")], [(1, "handle")]),
    ([code("print(n := len(data.x_train))"), checked("print(n)")], [(1, "n")]),
    # rebinding at the top level from a clean expression makes a name clean again
    ([code("x = data.x_test[:10]"), code("x = np.zeros(3)"), checked("print(x)")], []),
    ([code("model = fit(data)"), checked("for model in (a, b):\n    print(model.count_params())")], []),
    # ... but not inside a branch, which may not run
    ([code("x = data.x_test[:10]"), code("if flag:\n    x = np.zeros(3)"), checked("print(x)")], [(2, "x")]),
    # a comprehension variable is local; attributes named data are not the name data
    ([code("k = len(data.x_test)"), checked("print([k * 2 for k in range(3)], result.data)")], []),
    # calls with side effects are not followed; later cells do not matter; magics are skipped
    ([code("vae.fit(data.x_train)"), checked("%matplotlib inline\nprint(vae.count_params())"),
      code("vae = data")], []),
    # an unchecked cell may use anything
    ([code("print(data, config)")], []),
])
def test_the_analysis(cells, expected):
    assert violations(cells) == expected
