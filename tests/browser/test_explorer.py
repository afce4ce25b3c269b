"""The latent-space explorer decodes in the page exactly what the exported decoders decode.

The chapter embeds its trained two-dimensional VAE and CVAE decoders as inline JSON
(``snippets.chapters.latent.explorer_html``); ``book/_static/latent-explorer.js`` runs
them. Here the page's JSON is decoded again in Python by
``snippets.export.exported_decoder_logits`` (tests/test_export.py checks that it gives
what the Keras decoder gives, within one grey level), and the page's drawn image must
match it within one grey level of ``255``. Also: dragging, arrow keys and the digit
buttons change what is decoded, the page works from ``file://`` with no network, it
logs no error and requests nothing off localhost, and the static figures are still
there, and the explorer's element, weights and codes, weighs under 500 kB. A
screenshot of the explorer is left in the artifacts folder.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import ARTIFACTS

from snippets.export import exported_decoder_logits

PAGE = "book/keras/latent_space.html"
EXPLORER = "div.latent-explorer.latent-explorer-ready"
SIDE, ZOOM = 28, 8


def explorer(visit):
    visit.page.wait_for_selector(EXPLORER, timeout=15_000)
    return visit.page.locator(EXPLORER)


def intensities(visit) -> np.ndarray:
    script = f"() => Array.from(document.querySelector('{EXPLORER}').latentExplorer.intensities())"
    values = visit.page.evaluate(script)
    return np.asarray(values, dtype=np.float64)


def drawn_intensities(visit) -> np.ndarray:
    """The image read back from its canvas: the grey level at the centre of each of the 28 x 28 cells."""
    greys = visit.page.evaluate(
        """([side, zoom]) => {
          const canvas = document.querySelector('div.latent-explorer canvas.latent-explorer-image');
          const data = canvas.getContext('2d').getImageData(0, 0, side * zoom, side * zoom).data;
          const out = [];
          for (let y = 0; y < side; y++)
            for (let x = 0; x < side; x++)
              out.push(data[4 * ((y * zoom + zoom / 2) * side * zoom + x * zoom + zoom / 2)]);
          return out;
        }""",
        [SIDE, ZOOM],
    )
    return 1.0 - np.asarray(greys, dtype=np.float64) / 255.0


def set_point(visit, z1: float, z2: float, digit: int | None = None) -> None:
    visit.page.evaluate(
        f"""([z1, z2, digit]) => {{
          const api = document.querySelector('{EXPLORER}').latentExplorer;
          api.setDigit(digit); api.setPoint(z1, z2);
        }}""",
        [z1, z2, digit],
    )


def page_payload(visit) -> dict:
    return json.loads(visit.page.locator("script.latent-explorer-data").text_content())


def reference(payload: dict, z: tuple[float, float], digit: int | None) -> np.ndarray:
    """Bernoulli means of the exported decoder at ``z``, in NumPy."""
    if digit is None:
        logits = exported_decoder_logits(payload["models"]["vae"]["decoder"], np.array([z]))
    else:
        condition = np.eye(10)[[digit]]
        logits = exported_decoder_logits(payload["models"]["cvae"]["decoder"], np.array([z]), condition)
    return 1.0 / (1.0 + np.exp(-logits[0]))


@pytest.mark.parametrize("z, digit", [
    ((0.0, 0.0), None), ((1.3, -0.7), None), ((-3.5, 3.2), None), ((0.4, 0.9), 4), ((-2.0, -1.5), 9),
])
def test_the_page_draws_the_exported_decoders_means_within_one_grey_level(tab, z, digit):
    visit = tab(PAGE)
    explorer(visit)
    set_point(visit, *z, digit)
    expected = reference(page_payload(visit), z, digit)
    computed, drawn = intensities(visit), drawn_intensities(visit)
    assert computed.shape == drawn.shape == (SIDE * SIDE,)
    assert np.max(np.abs(np.round(255 * computed) - np.round(255 * expected))) <= 1
    assert np.max(np.abs(drawn - expected)) <= 1 / 255 + 1e-9


def test_the_explorer_element_in_the_built_page_weighs_under_500_kb(html_dir):
    page = (html_dir / PAGE).read_text(encoding="utf-8")
    (element,) = re.findall(r'<div class="latent-explorer">.*?</script></div>', page, re.DOTALL)
    assert len(element.encode("utf-8")) < 500_000


def test_dragging_across_the_panel_changes_the_code_and_the_image(tab):
    visit = tab(PAGE)
    panel = explorer(visit).locator("canvas.latent-explorer-latent")
    panel.scroll_into_view_if_needed()
    box = panel.bounding_box()
    mouse = visit.page.mouse
    mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.5 * box["height"])
    mouse.down()
    before = intensities(visit)
    z_before = visit.page.evaluate(f"() => document.querySelector('{EXPLORER}').latentExplorer.point()")
    mouse.move(box["x"] + 0.7 * box["width"], box["y"] + 0.3 * box["height"], steps=5)
    mouse.up()
    z_after = visit.page.evaluate(f"() => document.querySelector('{EXPLORER}').latentExplorer.point()")
    assert z_after[0] > z_before[0] and z_after[1] > z_before[1]
    assert np.max(np.abs(intensities(visit) - before)) > 0.1


def test_arrow_keys_move_the_code(tab):
    visit = tab(PAGE)
    panel = explorer(visit).locator("canvas.latent-explorer-latent")
    set_point(visit, 0.0, 0.0)
    panel.focus()
    for key in ("ArrowRight", "ArrowRight", "ArrowUp"):
        visit.page.keyboard.press(key)
    z = visit.page.evaluate(f"() => document.querySelector('{EXPLORER}').latentExplorer.point()")
    assert z == pytest.approx([0.2, 0.1])
    assert explorer(visit).get_attribute("data-z1") is not None


def test_digit_buttons_switch_to_the_cvae_and_back(tab):
    visit = tab(PAGE)
    root = explorer(visit)
    set_point(visit, 0.5, -0.5)
    vae_image = intensities(visit)
    images = {}
    for digit in (3, 8):
        root.locator(f"button[data-digit='{digit}']").click()
        assert root.get_attribute("data-model") == "cvae"
        assert root.locator(f"button[data-digit='{digit}']").get_attribute("aria-pressed") == "true"
        images[digit] = intensities(visit)
    assert np.max(np.abs(images[3] - images[8])) > 0.1
    assert np.max(np.abs(images[3] - vae_image)) > 0.1
    root.locator("button.latent-explorer-vae").click()
    assert root.get_attribute("data-model") == "vae"
    assert np.array_equal(intensities(visit), vae_image)


def test_the_page_keeps_its_static_figures_and_asks_nothing_of_the_network(tab):
    visit = tab(PAGE)
    root = explorer(visit)
    root.locator("button[data-digit='4']").click()
    root.locator("canvas.latent-explorer-latent").click()
    images = visit.page.evaluate(
        "() => Array.from(document.images).filter(img => img.src.includes('_images'))"
        ".map(img => img.complete && img.naturalWidth > 0)"
    )
    assert len(images) >= 5 and all(images)
    assert visit.problems() == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    set_point(visit, -0.8, 0.6, 4)
    root.screenshot(path=str(ARTIFACTS / "latent-explorer.png"))


def test_the_explorer_runs_from_a_downloaded_copy_without_a_network(offline_tab):
    visit = offline_tab(PAGE)
    explorer(visit)
    set_point(visit, 1.0, 1.0)
    assert intensities(visit).shape == (SIDE * SIDE,)
    assert visit.problems() == []
