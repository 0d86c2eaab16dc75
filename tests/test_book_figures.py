"""How figures reach the screen: 2x bitmaps shown at their CSS size, no text under 9 CSS px at
the book's content width, and the smallest text recorded in every PNG (the browser test reads it)."""

import base64
import functools
import io
import re

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from optbook.viz import plotting
from optbook.viz.plotting import (
    CONTENT_WIDTH_PX,
    MIN_TEXT_CSS_PX,
    PIXEL_RATIO,
    TEXT_SIZE_KEY,
    book_png,
    legible,
    png_size,
    png_text,
    png_with_text,
    recording_text_sizes,
    use_book_figures,
)
from optbook.viz.widgets import LiveFigure


def _figure(width_in, dpi, fontsize=7):
    fig = Figure(figsize=(width_in, 2.5), dpi=dpi, layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1])
    ax.tick_params(labelsize=fontsize)
    ax.text(0.2, 0.8, "note", fontsize=fontsize)
    ax.set_title("title", fontsize=14)
    ax.legend(["line"], fontsize=fontsize)
    return fig


@pytest.mark.parametrize("width_in,dpi", [(5, 80), (13, 72), (9, 80)])
def test_legible_raises_small_text_to_the_floor_at_the_shown_width(width_in, dpi):
    fig = _figure(width_in, dpi)
    floor = legible(fig)
    shown = min(1.0, CONTENT_WIDTH_PX / (width_in * dpi))  # a wider figure is scaled down
    assert floor * dpi / 72 * shown == pytest.approx(MIN_TEXT_CSS_PX)
    with recording_text_sizes() as sizes:
        FigureCanvasAgg(fig).draw()
    assert min(sizes) == pytest.approx(floor)
    assert max(sizes) == 14  # larger text is left alone
    assert legible(fig) == floor  # a second call changes nothing


def test_recording_text_sizes_sees_only_drawn_text():
    fig = Figure(figsize=(3, 2))
    ax = fig.subplots()
    ax.text(0.5, 0.5, "shown", fontsize=11)
    ax.text(0.5, 0.5, "hidden", fontsize=3, visible=False)
    ax.text(0.5, 0.5, "", fontsize=2)
    ax.tick_params(labelsize=6)
    with recording_text_sizes() as sizes:
        FigureCanvasAgg(fig).draw()
    assert sorted(set(sizes)) == [6.0, 11.0]


def test_png_text_chunks_round_trip():
    buf = io.BytesIO()
    Image.new("RGB", (3, 2)).save(buf, format="png")
    png = png_with_text(buf.getvalue(), "k", "v 1.5")
    assert png_text(png) == {"k": "v 1.5"}
    assert png_size(png) == (3, 2)
    assert Image.open(io.BytesIO(png)).text == {"k": "v 1.5"}  # PIL reads the chunk (and the CRC)
    with pytest.raises(ValueError, match="png must be a complete PNG file"):
        png_with_text(b"GIF89a", "k", "v")


@pytest.mark.parametrize("width_in,dpi", [(5, 80), (13, 72)])
def test_book_png_is_twice_the_css_size_and_records_its_smallest_text(width_in, dpi):
    fig = _figure(width_in, dpi)
    png = book_png(fig)
    w, h = png_size(png)
    css_w = w / PIXEL_RATIO
    assert css_w == pytest.approx(width_in * dpi, rel=0.1)  # tight box: about the figure's size
    smallest_bitmap = float(png_text(png)[TEXT_SIZE_KEY])
    with recording_text_sizes() as sizes:
        FigureCanvasAgg(fig).draw()
    assert smallest_bitmap == pytest.approx(min(sizes) * dpi * PIXEL_RATIO / 72, abs=0.01)
    css_at_content = smallest_bitmap / PIXEL_RATIO * min(1.0, CONTENT_WIDTH_PX / css_w)
    assert css_at_content >= MIN_TEXT_CSS_PX - 1e-6
    assert book_png(Figure()) is None  # nothing to show


def _figures_of_every_kind():
    import matplotlib.pyplot as plt

    yield _figure(13, 72)  # constrained layout, wider than the content column
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), dpi=80)  # pyplot, no layout engine
    axes[0].loglog([1, 10, 100], [1, 0.1, 0.01], label="$5.5/t$")
    axes[1].imshow(np.eye(5))
    axes[2].bar(range(3), [1, 2, 3])
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))  # sticks out of its axes
    fig.suptitle("suptitle")
    yield fig
    plt.close(fig)
    fig = Figure(figsize=(7.2, 3.8), dpi=80, layout="tight")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1])
    ax.set(xlabel="$\\theta$", ylabel="cost", yscale="log")
    ax.text(1.3, 0.5, "outside the axes", transform=ax.transAxes, fontsize=6)
    yield fig
    fig = Figure(figsize=(2, 2), dpi=80)  # no text at all
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(np.eye(4))
    ax.set_axis_off()
    yield fig


@pytest.mark.parametrize("kind", range(4))
def test_the_check_inside_print_figure_sees_what_the_render_draws(kind):
    # book_png checks the text size from inside print_figure, after the layout and before it
    # rasterises: the text sizes and bitmap width it sees there must be those of the image
    fig = list(_figures_of_every_kind())[kind]
    dpi = fig.dpi * PIXEL_RATIO
    for width_px in (CONTENT_WIDTH_PX, 500):
        legible(fig, width_px=width_px)
        seen = []

        def look(sizes, width, render, seen=seen):
            seen.append((sizes, width))
            return render

        assert plotting._print_png(fig, dpi, functools.partial(look, render=False)) is None
        with recording_text_sizes() as drawn:
            png = plotting._print_png(fig, dpi, functools.partial(look, render=True))
        assert seen[-1][1] == png_size(png)[0]
        assert sorted(set(seen[-1][0])) == sorted(set(drawn))
    assert FigureCanvasAgg.print_png.__module__ == "matplotlib.backends.backend_agg"  # restored


def test_a_canvas_with_its_own_print_png_is_asked_from_the_image():
    class OwnCanvas(FigureCanvasAgg):
        def print_png(self, filename_or_obj, **kwargs):  # not the one _print_png steps into
            return FigureCanvasAgg.print_png(self, filename_or_obj)

    seen = []
    fig = _figure(13, 72)
    OwnCanvas(fig)
    assert plotting._print_png(fig, 144, lambda sizes, width: seen.append(width)) is None
    assert seen == [1888]  # asked once, with the image's width
    fig, reference = _figure(13, 72), _figure(13, 72)  # 13 in: two tries
    OwnCanvas(fig)
    assert book_png(fig) == book_png(reference)


def _book_png_rendering_every_try(fig):
    # book_png as it was: a full render for each try (the check then reads the image)
    dpi, width_px = fig.dpi * PIXEL_RATIO, CONTENT_WIDTH_PX
    for _ in range(3):
        legible(fig, width_px=width_px)
        buf = io.BytesIO()
        with recording_text_sizes() as sizes:
            fig.canvas.print_figure(buf, format="png", dpi=dpi, bbox_inches="tight",
                                    facecolor=fig.get_facecolor(), edgecolor=fig.get_edgecolor())
        png = buf.getvalue()
        if not sizes:
            return png_with_text(png, TEXT_SIZE_KEY, "none")
        shown = png_size(png)[0] / PIXEL_RATIO
        smallest = min(sizes) * fig.dpi / 72 * min(1.0, CONTENT_WIDTH_PX / shown)
        if smallest >= MIN_TEXT_CSS_PX - 1e-6:
            break
        width_px *= smallest / MIN_TEXT_CSS_PX * 0.995
    return png_with_text(png, TEXT_SIZE_KEY, f"{min(sizes) * dpi / 72:.2f}")


@pytest.mark.parametrize("kind", range(4))
def test_book_png_renders_once_the_image_of_rendering_every_try(kind):
    fresh = list(_figures_of_every_kind())[kind], list(_figures_of_every_kind())[kind]
    assert book_png(fresh[0]) == _book_png_rendering_every_try(fresh[1])


def test_ipython_displays_figures_through_book_png():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        assert use_book_figures(shell)
        fig = _figure(5, 80)
        data, metadata = shell.display_formatter.format(fig)
        png = base64.b64decode(data["image/png"])
        w, h = png_size(png)
        assert metadata["image/png"] == {"width": w // PIXEL_RATIO, "height": h // PIXEL_RATIO}
        assert TEXT_SIZE_KEY in png_text(png)
        assert set(data) == {"image/png", "text/plain"}
    finally:
        InteractiveShell.clear_instance()


def test_use_book_figures_outside_ipython_does_nothing():
    assert plotting.use_book_figures() is False  # pytest runs no IPython shell


def _sine_live():
    fig = Figure(figsize=(4, 2), dpi=60)
    ax = fig.subplots()
    x = np.linspace(0, 6, 50)
    (line,) = ax.plot(x, np.sin(x))
    note = ax.text(0.1, 0.5, "", fontsize=6)

    def update(a):
        line.set_ydata(a * np.sin(x))
        note.set_text(f"a = {a}")

    return LiveFigure(fig, update, [line, note], alt="sine")


def test_scrubber_frames_are_2x_and_shown_at_the_css_size():
    live = _sine_live()
    body = live.scrubber({"a": [0.5, 1.0]})._repr_html_()
    assert 'width="240"' in body  # 4 in at 60 dpi
    uris = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", body)
    for uri in uris:
        png = base64.b64decode(uri)
        assert png_size(png) == (240 * PIXEL_RATIO, 120 * PIXEL_RATIO)
        smallest = float(png_text(png)[TEXT_SIZE_KEY])
        assert smallest / PIXEL_RATIO >= MIN_TEXT_CSS_PX - 1e-6  # the 6-pt note was raised
    # the live widget's background is cached again at its own ratio (a fast first slider move)
    assert live._ratio == LiveFigure.live_ratio and live._background is not None
    # the live image stays at the figure's CSS size, with LiveFigure.live_ratio pixels per CSS px
    jpeg = Image.open(io.BytesIO(live.render("jpeg", a=1.0)))
    assert jpeg.size == (240 * LiveFigure.live_ratio, 120 * LiveFigure.live_ratio)


def test_scrubber_overlays_over_the_background_give_the_full_frames():
    live = _sine_live()
    grid = {"a": [0.5, 1.5]}
    background, overlays = live.overlays(grid)
    full = live.frames(grid)
    bg = Image.open(io.BytesIO(background)).convert("RGBA")
    assert len(overlays) == len(full) == 2
    for overlay, frame in zip(overlays, full, strict=True):
        top = Image.open(io.BytesIO(overlay)).convert("RGBA")
        assert np.asarray(top)[..., 3].mean() < 0.2 * 255  # mostly transparent
        composed = np.asarray(Image.alpha_composite(bg, top).convert("RGB"), dtype=float)
        reference = np.asarray(Image.open(io.BytesIO(frame)).convert("RGB"), dtype=float)
        assert composed.shape == reference.shape
        # equal up to the two 256-colour palettes: a few levels on antialiased edges
        assert np.abs(composed - reference).mean() < 1.0
        assert (np.abs(composed - reference).max(axis=-1) > 48).mean() < 0.002
    body = live.scrubber(grid)._repr_html_()
    assert body.count("data:image/webp;base64,") == 1 and body.count("<img") == 1


def test_a_figure_without_text_is_stamped_none():
    fig = Figure(figsize=(2, 2), dpi=80)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(np.eye(4))
    ax.set_axis_off()
    assert png_text(book_png(fig))[TEXT_SIZE_KEY] == "none"
