"""The playground (``experiments/playground/``): its parts against independent computations, then the page as its
users use it: through Gradio's own client against a server this module starts on 127.0.0.1, and in Debian's
headless chromium with every outside host unreachable.

Needs the ``playground`` extra (Gradio); skips without it. The digit tab's network is trained at the server's
start-up on the real MNIST files ($JAXNET_DATA_DIR), or, where they are absent, on printed-digit stand-ins
(``idx_files.glyph_mnist``). Screenshots of the three tabs go to ``runs/playground/``.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import math
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

from jaxnet import data

from idx_files import glyph_mnist

pytest.importorskip("gradio", reason="the playground extra is not installed: pip install -e '.[playground]'")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
from experiments import universal_approx  # noqa: E402
from experiments.playground import backprop as tables  # noqa: E402
from experiments.playground import digits, fit  # noqa: E402

SHOTS = os.path.join(ROOT, "runs", "playground")
CANVAS = 280  # the pad's canvas, pixels a side


# -- The parts ----------------------------------------------------------------------------------------------------

def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    total = image.sum()
    return (np.arange(image.shape[0]) @ image.sum(axis=1) / total,
            np.arange(image.shape[1]) @ image.sum(axis=0) / total)


def test_a_drawing_is_boxed_into_20_pixels_keeping_its_aspect_and_centred_by_its_mass():
    # A 120 × 60 block of ink in a corner of the canvas, heavier on its left: after preprocessing its box is
    # 20 × 10, its darkest pixel 255, and its centre of mass (not its box's centre) within half a pixel of (14, 14).
    canvas = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    canvas[10:130, 200:260, 3] = 255
    canvas[10:130, 200:215, 3] = 255  # the left quarter ...
    canvas[10:130, 215:260, 3] = 100  # ... is darker than the rest
    digit = digits.preprocess(canvas)
    assert digit.shape == (28, 28) and digit.dtype == np.float32 and digit.max() == pytest.approx(255)
    rows, cols = np.nonzero(digit > 0.05 * 255)
    assert rows.max() - rows.min() + 1 == 20 and cols.max() - cols.min() + 1 in (10, 11)  # bilinear edge: ±1
    r, c = centre_of_mass(digit)
    assert abs(r - 14) <= 0.5 and abs(c - 14) <= 0.5
    box_centre = (cols.min() + cols.max()) / 2
    assert box_centre > c + 1  # the mass sits left of the box's centre, so the box is moved right of the middle


def test_ink_is_read_the_same_from_rgba_rgb_and_grey_canvases():
    grey = np.full((40, 40), 255, np.uint8)
    grey[10:30, 18:22] = 0  # a black bar on white
    rgb = np.repeat(grey[..., None], 3, axis=2)
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., 3] = 255 - grey  # black strokes on a transparent layer, as the pad's
    expected = (255 - grey) / 255.0
    for canvas in (grey, rgb, rgba):
        np.testing.assert_allclose(digits.ink(canvas), expected, atol=1e-12)


def test_an_empty_or_white_drawing_is_refused_by_name():
    for canvas in (np.zeros((CANVAS, CANVAS, 4), np.uint8), np.full((CANVAS, CANVAS, 3), 255, np.uint8)):
        with pytest.raises(digits.EmptyDrawing, match="the drawing is empty: draw a digit"):
            digits.preprocess(canvas)


def test_the_tables_are_the_lectures_rules_written_out_and_relu_at_zero_has_derivative_one():
    result = tables.compute(tables.TableSettings())  # 3-4-4-2, relu, mse, v_1[0] = 0
    layers = result["layers"]
    W = [np.array(layer["W"]) for layer in layers]
    b = [np.array(layer["b"]) for layer in layers]
    x, y = np.array(result["x"]), np.array(result["y"])
    # Forward and backward by hand, in float64: v_i = W_i u_{i−1} + b_i; g_3 = ŷ − y; g_i = Φ'_i W_{i+1}ᵀ g_{i+1}.
    u, vs, us = x, [], [x]
    for i in range(3):
        v = W[i] @ u + b[i]
        u = np.where(v >= 0, v, 0) if i < 2 else v
        vs.append(v)
        us.append(u)
    g = [None, None, us[-1] - y]
    for i in (1, 0):
        g[i] = (vs[i] >= 0) * (W[i + 1].T @ g[i + 1])
    for i, layer in enumerate(layers):
        np.testing.assert_allclose(layer["v"], vs[i], rtol=1e-5, atol=1e-6)  # float32 against float64
        np.testing.assert_allclose(layer["g"], g[i], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(layer["dW"], np.outer(g[i], us[i]), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(layer["db"], g[i], rtol=1e-5, atol=1e-6)
    assert layers[0]["v"][0] == 0.0 and layers[0]["derivative"][0] == 1.0 and layers[0]["g"][0] != 0.0
    assert {0.0, 1.0} <= set(layers[0]["derivative"]) | set(layers[1]["derivative"])  # both signs are shown
    assert result["max_difference"] <= 1e-6


@pytest.mark.parametrize("values, message", [
    ({"width": 0}, r"width must be in \[10, 10000\], got 0"),
    ({"width": 1e9}, r"width must be in \[10, 10000\], got 1000000000"),
    ({"lr": math.nan}, r"lr must be in \(0, 1\], got nan"),
    ({"lr": "inf"}, r"lr must be in \(0, 1\], got inf"),
    ({"width": 10.5}, r"width must be a whole number, got 10.5"),
    ({"steps": None}, r"steps is empty or not a number"),
    ({"activation": "softplus"}, r"unknown activation 'softplus'; valid values are \['tanh', 'sigmoid', 'relu'\]"),
])
def test_bad_settings_are_refused_by_name(values, message):
    form = {"width": 1000, "activation": "tanh", "init": "spread", "lr": 0.01, "steps": 2000, "seed": 0, **values}
    with pytest.raises(ValueError, match=message):
        fit.FitSettings.from_form(**form)


def test_a_streamed_run_is_the_experiments_run_cut_into_chunks_and_reuses_its_programs():
    settings = fit.FitSettings(width=50, steps=60)
    snapshots = list(fit.stream(settings))
    assert [s.step for s in snapshots] == list(range(0, 61, 3))  # the initial network, then 20 chunks of 3 steps
    config = settings.experiment()
    x, y = universal_approx.sample(config.n)
    x_test, y_test = universal_approx.sample(config.test_points)
    reference = universal_approx.fit_width(config, settings.width, x, y, x_test, y_test)  # one call, one seed
    np.testing.assert_allclose(snapshots[-1].test_rmse, reference["test_rmse"][0], rtol=1e-5)
    np.testing.assert_allclose(snapshots[-1].prediction, reference["_test_pred"][0, :, 0], rtol=1e-4, atol=1e-6)
    misses = fit.trainer_for.cache_info().misses
    again = list(fit.stream(dataclasses.replace(settings, seed=1)))  # another user's seed, same program
    again = list(fit.stream(settings))
    assert fit.trainer_for.cache_info().misses == misses  # no program built afresh for these runs
    assert again[-1].test_rmse == snapshots[-1].test_rmse


# -- The page, through Gradio's client ------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    """The real MNIST files if present, else printed-digit stand-ins with their layout."""
    return data.find_idx_dir("mnist") or glyph_mnist(str(tmp_path_factory.mktemp("glyphs")))


@pytest.fixture(scope="module")
def server(mnist_dir, tmp_path_factory):
    """``python -m experiments.playground`` on a free port of 127.0.0.1, as ``make playground`` starts it, with no
    checkpoint (so its start-up network is trained); stopped after the module's tests."""
    port = free_port()
    log = tmp_path_factory.mktemp("playground") / "server.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "experiments.playground", "--port", str(port), "--data-dir", mnist_dir,
             "--checkpoint", str(log.parent / "no-checkpoint.npz")],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the playground did not come up at {url}:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
    yield url
    process.terminate()
    process.wait(timeout=30)
    assert f"jaxnet playground: http://127.0.0.1:{port}/" in log.read_text()


# The tests that use the server (`make test` runs each module on one pytest worker: one server serves them all).
on_the_server = pytest.mark.slow


@pytest.fixture(scope="module")
def client(server):
    return Client(server, verbose=False, download_files=False)


@on_the_server
def test_the_width_1000_run_streams_its_fit_and_reaches_the_experiments_error(client):
    job = client.submit(1000, "tanh", "spread", 0.01, 2000, 0, api_name="/train")
    updates = list(job)
    steps = [update[3] for update in updates]
    assert len(updates) >= 5 and steps == sorted(set(steps)) and steps[-1] == 2000
    assert all(update[0]["type"] == "matplotlib" for update in updates)
    assert updates[-1][2] < 0.05  # test RMSE (the experiment's width 1,000 reaches 0.003)
    assert "step 2,000 of 2,000" in updates[-1][1]


@on_the_server
def test_two_people_training_at_once_each_see_their_own_run(server):
    # Two clients (two sessions) start at once; each run's final error is the one its settings give alone, and
    # the two overlap in time (neither waits in a queue behind the other).
    runs = [(10, 100), (50, 100)]
    expected = [list(fit.stream(fit.FitSettings(width=w, steps=s)))[-1].test_rmse
                for w, s in runs]

    def run(width_steps):
        width, steps = width_steps
        times, last = [], None
        for update in Client(server, verbose=False, download_files=False).submit(
                width, "tanh", "spread", 0.01, steps, 0, api_name="/train"):
            times.append(time.monotonic())
            last = update
        return times, last

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(run, runs))
    for (_, last), rmse in zip(results, expected):
        np.testing.assert_allclose(last[2], rmse, rtol=1e-5)
    (first_times, _), (second_times, _) = results
    assert first_times[0] < second_times[-1] and second_times[0] < first_times[-1]


@on_the_server
def test_the_tables_tab_agrees_with_jax_grad(client):
    html, difference, numbers = client.predict("3, 4, 4, 2", "relu", "identity", "mse", "0.5, -1.0, 2.0",
                                               "1.0, 0.0", 1, True, api_name="/tables")
    assert difference <= 1e-6
    for layer in numbers["layers"]:
        np.testing.assert_allclose(layer["dW"], layer["dW_autodiff"], atol=1e-6)
        np.testing.assert_allclose(layer["db"], layer["db_autodiff"], atol=1e-6)
    assert numbers["layers"][0]["v"][0] == 0.0 and numbers["layers"][0]["derivative"][0] == 1.0
    assert "Layer 3" in html and "∇W" in html


def drawing(image28: np.ndarray, path: str) -> dict:
    """An MNIST image as a drawing on the pad: scaled to the canvas, dark ink on a transparent layer, sent as the
    pad sends it."""
    big = np.asarray(Image.fromarray(image28).resize((CANVAS, CANVAS), Image.Resampling.BILINEAR))
    rgba = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    rgba[..., 3] = big
    Image.fromarray(rgba).save(path)
    return {"background": None, "layers": [], "composite": handle_file(path), "id": None}


@on_the_server
def test_200_drawn_test_digits_are_read(server, mnist_dir, tmp_path):
    # Four users at a time, each with a client of its own and one drawing in flight (a single client with 200 jobs
    # in flight on one event stream can lose one to a race in gradio_client).
    x, y = data.load_mnist("test", data_dir=mnist_dir, source="idx", dtype="uint8")
    pick = np.random.default_rng(0).choice(len(y), 200, replace=False)

    def read(part):
        user = Client(server, verbose=False, download_files=False)
        return [int(user.predict(drawing(x[i].reshape(28, 28), str(tmp_path / f"{i}.png")), api_name="/read")[2]
                    ["label"]) for i in part]

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        readings = sum(pool.map(read, np.array_split(pick, 4)), [])
    accuracy = np.mean(np.array(readings) == y[pick])
    assert accuracy >= 0.95, f"{accuracy:.1%} of 200 drawn test digits read correctly"


@on_the_server
@pytest.mark.parametrize("call, message", [
    (lambda c: c.predict(0, "tanh", "spread", 0.01, 2000, 0, api_name="/train"), r"width must be in \[10, 10000\]"),
    (lambda c: c.predict(10**9, "tanh", "spread", 0.01, 2000, 0, api_name="/train"), r"got 1000000000"),
    (lambda c: c.predict(1000, "tanh", "spread", "nan", 2000, 0, api_name="/train"), r"lr must be in \(0, 1\]"),
    (lambda c: c.predict("3, 4", "relu", "identity", "mse", "1, 2", "1", 1, True, api_name="/tables"),
     r"x has 2 numbers; the network's input d_0 = 3 needs 3"),
])
def test_bad_input_gets_a_message_and_the_server_keeps_serving(client, call, message):
    with pytest.raises(AppError, match=message):
        call(client)
    assert client.predict("2, 1", "tanh", "identity", "mse", "1, 2", "0.5", 0, False, api_name="/tables")[1] <= 1e-6


@on_the_server
def test_an_empty_drawing_gets_a_message(client, tmp_path):
    with pytest.raises(AppError, match="the drawing is empty: draw a digit on the pad first"):
        client.predict(drawing(np.zeros((28, 28), np.uint8), str(tmp_path / "blank.png")), api_name="/read")


# -- The page, in a browser -----------------------------------------------------------------------------------------

@on_the_server
def test_the_page_in_a_browser_with_no_outside_network(server):
    import chromium

    driver = chromium.start(window="1400,1250", only_local=True)  # skips without chromium or selenium
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    os.makedirs(SHOTS, exist_ok=True)
    wait = WebDriverWait(driver, 60)
    try:
        driver.get(server)
        tab = lambda name: driver.find_element(By.XPATH, f"//button[@role='tab'][contains(., '{name}')]")
        wait.until(lambda d: tab("Universal approximation"))
        plot_image = lambda: driver.find_elements(By.CSS_SELECTOR, "#fit-plot img")
        wait.until(lambda d: d.find_elements(By.ID, "train"))[0].click()  # the tabs render before the form
        wait.until(lambda d: plot_image() and "step" in d.find_element(By.ID, "fit-status").text)
        first = plot_image()[0].get_attribute("src")
        wait.until(lambda d: "step 2,000 of 2,000" in d.find_element(By.ID, "fit-status").text)
        assert plot_image()[0].get_attribute("src") != first  # the plot changed while it trained
        driver.save_screenshot(os.path.join(SHOTS, "fit.png"))

        tab("Back-propagation").click()
        wait.until(lambda d: "Layer 3" in d.find_element(By.ID, "tables").text)
        driver.save_screenshot(os.path.join(SHOTS, "backprop.png"))

        tab("A digit you draw").click()
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#pad button[aria-label='Brush']").is_displayed())
        driver.find_element(By.CSS_SELECTOR, "#pad button[aria-label='Brush']").click()  # the pad opens on no tool
        canvas = [c for c in driver.find_elements(By.CSS_SELECTOR, "#pad canvas") if c.is_displayed()][0]
        stroke = ActionChains(driver).move_to_element_with_offset(canvas, -50, -90).click_and_hold()
        for dx, dy in ((35, 0), (35, 0), (30, 0), (-10, 40), (-15, 50), (-15, 50), (-10, 40)):  # a 7, from its bar
            stroke = stroke.move_by_offset(dx, dy)
        stroke.release().perform()
        driver.find_element(By.ID, "read").click()
        reading = lambda d: [line for line in d.find_element(By.ID, "reading").text.splitlines() if line.isdigit()]
        wait.until(lambda d: reading(d) and d.find_elements(By.CSS_SELECTOR, "#input28 img"))  # and its input shown
        time.sleep(1.0)  # the bar chart draws itself after the values arrive
        driver.save_screenshot(os.path.join(SHOTS, "digit.png"))
        assert reading(driver)[0] == "7", f"the drawn 7 was read as {reading(driver)[0]}"
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        driver.quit()
