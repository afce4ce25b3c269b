"""README.md: its example runs as printed (offline too), and its links and install line match the book's."""

from __future__ import annotations

import importlib.util
import math
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
spec = importlib.util.spec_from_file_location("add_reader_cells", ROOT / "scripts" / "add_reader_cells.py")
reader = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reader)


def section(title: str) -> str:
    """The README's text under the ``## title`` heading, up to the next one."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert match, f"README.md has no section '## {title}'"
    return match.group(1)


def test_the_first_vae_example_trains_on_binarised_digits_and_prints_a_bound_below_coin_flips(tmp_path):
    [example] = re.findall(r"```python\n(.*?)```", section("A first VAE in a few lines"), re.S)
    assert "DynamicBinarization" in example and "binarize(data.x_test)" in example
    # As printed, but 2 epochs instead of 10: the property checked is that it runs and learns.
    fewer_epochs = example.replace("epochs=10", "epochs=2")
    assert fewer_epochs != example
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run([sys.executable, "-c", fewer_epochs], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    [nats] = re.findall(r"^test -ELBO: (\S+) nats per digit$", run.stdout, re.M)
    # 784 pixels at probability 1/2 each cost 784 log 2 = 543 nats: a trained model does better.
    assert math.isfinite(float(nats)) and 0 < float(nats) < 784 * math.log(2)


def test_the_published_address_is_the_pages_site_of_the_configured_repository():
    owner, name = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)/?", reader.repository_url()).groups()
    assert f"https://{owner}.github.io/{name}/" in section("Reading the book")


def test_the_install_line_shown_is_the_one_the_chapters_run():
    requirement = reader.requirement(reader.repository_url())
    assert f'%pip install --quiet "{requirement}"' in section("Reading the book")
    assert reader.install_requirement(reader.install_source(reader.repository_url())) == requirement
