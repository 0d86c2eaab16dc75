"""LiveFigure: blitted frames equal a full redraw; scrubbers carry every frame; explorers cache."""

import io
import re

import ipywidgets as w
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from optbook.optim import SGD
from optbook.problems import landscapes
from optbook.viz.explorers import TrajectoryCache, trajectory_race
from optbook.viz.plotting import legible
from optbook.viz.widgets import LiveFigure


def _sine_figure():
    fig = Figure(figsize=(3, 2), dpi=50)
    ax = fig.subplots()
    x = np.linspace(0, 2 * np.pi, 100)
    ax.plot(x, np.cos(x), color="0.7")  # static
    (line,) = ax.plot([], [], color="C0")
    ax.set_xlim(0, 2 * np.pi)
    ax.set_ylim(-2, 2)
    text = ax.text(0.1, 1.5, "")

    def update(a, phase=0.0):
        line.set_data(x, a * np.sin(x + phase))
        text.set_text(f"a = {a}")

    return fig, update, [line, text]


def _decode(png):
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_blitted_frame_equals_full_redraw():
    fig, update, artists = _sine_figure()
    live = LiveFigure(fig, update, artists)
    live.render(a=0.5)  # caches the background
    blitted = _decode(live.render(a=1.5, phase=0.3))
    # Reference: draw the same state from scratch (with the text sizes every LiveFigure gets).
    fig2, update2, artists2 = _sine_figure()
    update2(a=1.5, phase=0.3)
    legible(fig2)
    canvas = FigureCanvasAgg(fig2)
    canvas.draw()
    full = np.asarray(canvas.buffer_rgba())[..., :3]
    assert blitted.shape == full.shape
    assert (blitted != full).any(axis=-1).mean() < 1e-3  # identical up to antialiasing at a few pixels
    assert not np.array_equal(blitted, _decode(live.render(a=0.5)))  # and the frame does change


def test_widget_follows_its_controls():
    fig, update, artists = _sine_figure()
    live = LiveFigure(fig, update, artists)
    controls = {"a": w.FloatSlider(value=1.0, min=0.0, max=2.0), "phase": w.FloatSlider(value=0.0)}
    box = live.widget(controls)
    assert live.controls == controls
    image = box.children[1]
    first = image.value
    controls["a"].value = 1.7
    assert image.value != first
    assert image.value == live.render("jpeg", a=1.7, phase=0.0)
    with pytest.raises(ValueError, match="format must be .png. or .jpeg., got .gif."):
        live.render("gif", a=1.0)


def test_scrubber_has_every_frame_in_order():
    fig, update, artists = _sine_figure()
    live = LiveFigure(fig, update, artists, alt="a sine wave")
    grid = {"a": [0.5, 1.0, 1.5], "phase": [0.0, 1.0]}
    html = live.scrubber(grid, labels={"a": "amplitude"}, initial={"a": 1.0, "phase": 1.0})
    body = html._repr_html_()
    assert html.n_frames == 6
    uris = re.findall(r"data:image/png;base64,[A-Za-z0-9+/=]+", body)
    frames = live.frames(grid)
    assert len(frames) == 6
    # the initial frame (a=1.0, phase=1.0) is index 1*2 + 1 = 3 and is the one shown first
    assert uris[0] == uris[1 + 3]
    assert len(set(uris[1:])) == 6
    assert body.count('type="range"') == 2
    assert 'alt="a sine wave"' in body and "amplitude" in body
    assert "<script>" in body


def test_scrubber_is_deterministic():
    fig, update, artists = _sine_figure()
    a = LiveFigure(fig, update, artists).scrubber({"a": [1.0, 2.0]})._repr_html_()
    fig, update, artists = _sine_figure()
    b = LiveFigure(fig, update, artists).scrubber({"a": [1.0, 2.0]})._repr_html_()
    assert a == b


def test_live_figure_bad_arguments():
    fig, update, artists = _sine_figure()
    with pytest.raises(TypeError, match="fig must be a matplotlib Figure"):
        LiveFigure("fig", update, artists)
    with pytest.raises(TypeError, match="update must be callable"):
        LiveFigure(fig, None, artists)
    with pytest.raises(ValueError, match="artists must be a non-empty sequence"):
        LiveFigure(fig, update, [])
    live = LiveFigure(fig, update, artists)
    with pytest.raises(ValueError, match="grid must map each name to a non-empty sequence"):
        live.scrubber({"a": []})
    with pytest.raises(ValueError, match=r"initial value 3.0 for 'a' is not one of \[1.0, 2.0\]"):
        live.scrubber({"a": [1.0, 2.0]}, initial={"a": 3.0})
    with pytest.raises(TypeError, match="control 'a' is not an ipywidgets value widget"):
        live.widget({"a": 1.0})


OPTS = {
    "SGD": lambda params, lr: SGD(params, lr=lr),
    "momentum": lambda params, lr, momentum: SGD(params, lr=lr, momentum=momentum),
    "Nesterov": lambda params, lr, momentum: SGD(params, lr=lr, momentum=momentum, nesterov=True),
}


def test_cache_reruns_only_what_depends_on_a_value():
    cache = TrajectoryCache()
    land = landscapes.quadratic(10.0)
    sgd = cache.run(land, OPTS["SGD"], 20, lr=0.5, momentum=0.9)
    assert cache.run(land, OPTS["SGD"], 20, lr=0.5, momentum=0.5) is sgd  # SGD ignores momentum
    mom = cache.run(land, OPTS["momentum"], 20, lr=0.5, momentum=0.9)
    assert cache.run(land, OPTS["momentum"], 20, lr=0.5, momentum=0.5) is not mom
    ref = landscapes.run_trajectory(land, lambda p: SGD(p, lr=0.5, momentum=0.9), 20)
    np.testing.assert_array_equal(mom.path, ref.path)


def test_cache_turns_refusals_into_messages():
    cache = TrajectoryCache()
    msg = cache.run(landscapes.quadratic(), OPTS["Nesterov"], 10, lr=0.5, momentum=0.0)
    assert msg == "nesterov=True needs momentum > 0, got momentum=0.0"


def test_race_annotates_divergence_and_refusals():
    race = trajectory_race([landscapes.quadratic(10.0), landscapes.rosenbrock()], OPTS, steps=[30, 40])
    race.render(lr=2.5, momentum=0.0)  # SGD diverges (εL > 2); Nesterov refuses momentum 0
    notes = [a for a in race.artists if hasattr(a, "get_text") and "SGD:" in a.get_text()]
    assert len(notes) == 2
    text = notes[0].get_text()
    assert re.search(r"SGD: diverged at step \d+", text)
    assert "Nesterov: not run (nesterov=True needs momentum > 0" in text
    race.render(lr=1.0, momentum=0.9)
    assert "diverged" not in notes[0].get_text()
    assert re.search(r"momentum: f = [0-9.e+-]+", notes[0].get_text())


def test_race_bad_arguments():
    with pytest.raises(TypeError, match="landscapes must be a non-empty sequence of Landscape"):
        trajectory_race([], OPTS)
    with pytest.raises(ValueError, match="lr_unit must be 'curvature' or 'absolute', got 'x'"):
        trajectory_race([landscapes.quadratic()], OPTS, lr_unit="x")
    with pytest.raises(ValueError, match="needs a curvature L for every landscape"):
        trajectory_race([landscapes.saddle()], OPTS)
    with pytest.raises(ValueError, match="steps must be an int or one per landscape"):
        trajectory_race([landscapes.quadratic()], OPTS, steps=[1, 2])


def test_scrubber_leaves_the_live_widget_ready_to_blit(monkeypatch):
    """Scrubber frames are drawn at 2x; afterwards the live widget's background is cached again
    at its own resolution, so its next slider move only redraws the changing artists."""
    fig, update, artists = _sine_figure()
    live = LiveFigure(fig, update, artists)
    slider = w.FloatSlider(value=1.0, min=0.5, max=1.5, step=0.5)
    box = live.widget({"a": slider})
    live.scrubber({"a": [0.5, 1.0, 1.5]})
    full_draws = []
    original = live.canvas.draw
    monkeypatch.setattr(live.canvas, "draw", lambda *a, **k: (full_draws.append(1), original(*a, **k)))
    slider.value = 1.5
    assert full_draws == []
    fresh = LiveFigure(*_sine_figure())
    assert _decode(box.children[1].value).shape == _decode(fresh.render("jpeg", a=1.5)).shape


class _PngAndText:
    """A display object with a PNG and a plain-text face (as a matplotlib figure has)."""

    def _repr_png_(self):
        buf = io.BytesIO()
        Image.new("RGB", (3, 2), (10, 20, 30)).save(buf, format="PNG")
        return buf.getvalue()

    def __repr__(self):
        return "<a 3x2 picture>"


@pytest.mark.parametrize("make", [_PngAndText, lambda: w.HTML("<b>x</b>")], ids=["png", "widget"])
def test_show_writes_what_myst_nb_glue_writes(make):
    """`show` builds myst-nb's glue output itself (no myst-nb import in the kernel): the same
    display data and metadata as `myst_nb.glue(name, obj, display=True)`, name included."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output
    from myst_nb import glue

    from optbook.viz.widgets import show

    had_shell = InteractiveShell.initialized()
    InteractiveShell.instance()
    try:
        obj = make()
        with capture_output() as ours:
            show("fig-probe", obj)
        with capture_output() as theirs:
            glue("fig-probe", obj, display=True)
    finally:
        if not had_shell:
            InteractiveShell.clear_instance()
    assert len(ours.outputs) == len(theirs.outputs) == 1
    assert ours.outputs[0].data == theirs.outputs[0].data
    assert ours.outputs[0].metadata == theirs.outputs[0].metadata
    assert ours.outputs[0].metadata["scrapbook"] == {"name": "fig-probe", "mime_prefix": ""}
    assert len(ours.outputs[0].data) >= 2  # a rich face besides text/plain
