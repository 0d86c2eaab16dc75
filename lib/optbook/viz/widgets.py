"""One interactive figure, two faces: live sliders in a kernel, a static scrubber in the book.

A :class:`LiveFigure` wraps a matplotlib :class:`~matplotlib.figure.Figure` and an
``update(**values)`` function that changes only the figure's *dynamic* artists (lines, texts).
Everything else — contours, axes, legends — is drawn once and cached as a bitmap; each new
slider value restores that bitmap, redraws the dynamic artists on top and encodes a PNG
("blitting"). That keeps a slider well under 100 ms where a full redraw costs 150 ms or more.

* :meth:`LiveFigure.widget` returns ipywidgets controls and an image that follows them.
* :meth:`LiveFigure.scrubber` renders every combination of a grid of values through the
  *same* ``update`` and returns self-contained HTML with range inputs, so a reader of the
  published book, with no kernel, can still move through the values.

Both go through :func:`optbook.viz.plotting.legible` (no text under 9 CSS px where the book
shows the figure). Scrubber frames have ``PIXEL_RATIO`` (2) bitmap pixels per CSS pixel, sharp on
2x screens; the live image has ``LiveFigure.live_ratio`` (see there).
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import itertools
import json
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image, PngImagePlugin

from optbook.viz.plotting import PIXEL_RATIO, TEXT_SIZE_KEY, legible, recording_text_sizes

__all__ = ["LiveFigure", "ScrubberHTML", "show", "slider_values"]


class LiveFigure:
    """A figure with a cached background and a few artists that ``update`` changes.

    Args:
        fig: a :class:`matplotlib.figure.Figure` (build it with ``Figure(...)``, not
            ``plt.figure``, so that the notebook does not also display it).
        update: called as ``update(**values)``; it mutates ``artists`` and returns nothing.
            It must not raise for extreme values: show the problem in the figure instead.
        artists: the artists ``update`` changes; they are drawn over the cached background.
        alt: alternative text for the rendered images.
    """

    #: Bitmap pixels per CSS pixel of the live image in JupyterLab. 1 keeps a slider move within
    #: the 50 ms budget on a 2-core machine (2x costs about 4x the pixels to draw and encode);
    #: the static scrubber frames of the book use ``PIXEL_RATIO``.
    live_ratio = 1

    def __init__(
        self,
        fig: Figure,
        update: Callable[..., None],
        artists: Sequence[Artist],
        alt: str = "",
    ):
        if not isinstance(fig, Figure):
            raise TypeError(f"fig must be a matplotlib Figure, got {fig!r}")
        if not callable(update):
            raise TypeError(f"update must be callable, got {update!r}")
        artists = list(artists)
        if not artists or not all(isinstance(a, Artist) for a in artists):
            raise ValueError(f"artists must be a non-empty sequence of matplotlib artists, got {artists!r}")
        self.fig, self.update, self.artists, self.alt = fig, update, artists, alt
        self.canvas = FigureCanvasAgg(fig)
        self._background = None
        self._dpi = fig.dpi  # CSS pixels per inch: the figure is shown at this size
        self._ratio = 1
        self._legible = False
        self._static_text_sizes: list[float] = []
        self.text_sizes: list[float] = []  # of the last frame drawn, in points
        self.controls: dict = {}

    def _draw(self, values: Mapping, ratio: int = 1) -> np.ndarray:
        if not self._legible:
            self.fig.set_dpi(self._dpi)
            legible(self.fig)
            self._legible = True
        if ratio != self._ratio:
            self.fig.set_dpi(self._dpi * ratio)
            self._ratio, self._background = ratio, None
        if self._background is None:
            for a in self.artists:
                a.set_animated(True)  # left out of the full draw below
            with recording_text_sizes() as sizes:
                self.canvas.draw()
            self._static_text_sizes = sizes
            self._background = self.canvas.copy_from_bbox(self.fig.bbox)
        self.canvas.restore_region(self._background)
        self.update(**values)
        renderer = self.canvas.get_renderer()
        with recording_text_sizes() as sizes:
            for a in self.artists:
                a.draw(renderer)
        self.text_sizes = self._static_text_sizes + sizes
        return np.asarray(self.canvas.buffer_rgba())

    def render(self, format: str = "png", **values) -> bytes:
        """The figure after ``update(**values)``, encoded as ``format`` ("png" or "jpeg").

        JPEG encodes ten times faster than PNG (0.5 ms against 5 ms for a 740 × 290 figure),
        which is why the live widget uses it; static frames use PNG, which keeps lines crisp.
        """
        if format not in ("png", "jpeg"):
            raise ValueError(f"format must be 'png' or 'jpeg', got {format!r}")
        rgba = self._draw(values, self.live_ratio)
        buf = io.BytesIO()
        img = Image.fromarray(rgba[..., :3])
        if format == "png":
            img.save(buf, format="png", compress_level=1)
        else:
            img.save(buf, format="jpeg", quality=92)
        return buf.getvalue()

    def widget(self, controls: Mapping):
        """ipywidgets ``controls`` (name → widget with a ``value``) above the live image.

        The image is re-rendered on every change of any control.
        """
        import ipywidgets as w

        if not controls:
            raise ValueError("controls must name at least one widget")
        for name, c in controls.items():
            if not hasattr(c, "value") or not hasattr(c, "observe"):
                raise TypeError(f"control {name!r} is not an ipywidgets value widget: {c!r}")
        self.controls = dict(controls)  # kept so benchmarks/run.py can move them as a reader would
        image = w.Image(format="jpeg", value=self.render("jpeg", **self._values(controls)))
        image.layout.max_width = "100%"
        image.layout.width = f"{round(self.fig.get_figwidth() * self._dpi)}px"

        def on_change(_change):
            image.value = self.render("jpeg", **self._values(controls))

        for c in controls.values():
            c.observe(on_change, names="value")
        return w.VBox([w.HBox(list(controls.values()), layout=w.Layout(flex_flow="row wrap")), image])

    @staticmethod
    def _values(controls: Mapping) -> dict:
        return {name: c.value for name, c in controls.items()}

    def frames(self, grid: Mapping[str, Sequence], ratio: int = PIXEL_RATIO) -> list[bytes]:
        """PNG frames for every combination of ``grid`` values, last name varying fastest, with
        ``ratio`` bitmap pixels per CSS pixel; each records its smallest text (``TEXT_SIZE_KEY``)."""
        _check_grid(grid)
        names = list(grid)
        out = []
        for combo in itertools.product(*(grid[n] for n in names)):
            rgba = self._draw(dict(zip(names, combo, strict=True)), ratio)
            smallest = min(self.text_sizes) * self._dpi * ratio / 72 if self.text_sizes else None
            out.append(self._quantised_png(rgba, smallest))
        return out

    def overlays(self, grid: Mapping[str, Sequence], ratio: int = PIXEL_RATIO) -> tuple[bytes, list[bytes]]:
        """The cached background (lossless WebP) and, for every combination of ``grid`` values,
        a transparent PNG of only the artists ``update`` changes, stamped like :meth:`frames`.

        Drawn over the background they give the frames of :meth:`frames`; they are a small
        part of their size, which keeps a page with several scrubbers light at 2x resolution.
        """
        _check_grid(grid)
        names = list(grid)
        out = []
        combos = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grid.values())]
        self._draw(combos[0], ratio)  # the background at this ratio, and legible text
        renderer = self.canvas.get_renderer()
        for values in combos:
            renderer.clear()  # transparent
            self.update(**values)
            with recording_text_sizes() as sizes:
                for a in self.artists:
                    a.draw(renderer)
            self.text_sizes = self._static_text_sizes + sizes
            smallest = min(self.text_sizes) * self._dpi * ratio / 72 if self.text_sizes else None
            out.append(self._quantised_png(np.asarray(self.canvas.buffer_rgba()), smallest, alpha=True))
        self.canvas.restore_region(self._background)
        buf = io.BytesIO()
        Image.fromarray(np.asarray(self.canvas.buffer_rgba())[..., :3]).save(
            buf, format="webp", lossless=True, method=4)
        if ratio != self.live_ratio:
            # Cache the live widget's background now, so that a reader's first slider move
            # does not pay for a full redraw at the other resolution (100-200 ms).
            self._draw(combos[0], self.live_ratio)
        return buf.getvalue(), out

    @staticmethod
    def _quantised_png(rgba: np.ndarray, smallest_text_px: float | None = None, alpha: bool = False) -> bytes:
        # A 256-colour palette keeps line art crisp and frames small (about a third of RGB PNG).
        if alpha:
            img = Image.fromarray(rgba).quantize(colors=256, method=Image.Quantize.FASTOCTREE,
                                                 dither=Image.Dither.NONE)
        else:
            img = Image.fromarray(rgba[..., :3]).quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                                          dither=Image.Dither.NONE)
        info = PngImagePlugin.PngInfo()
        info.add_text(TEXT_SIZE_KEY, "none" if smallest_text_px is None else f"{smallest_text_px:.2f}")
        buf = io.BytesIO()
        img.save(buf, format="png", optimize=True, pnginfo=info)
        return buf.getvalue()

    def scrubber(
        self,
        grid: Mapping[str, Sequence],
        labels: Mapping[str, str] | None = None,
        initial: Mapping | None = None,
        fmt: Callable[[object], str] = lambda v: f"{v:g}",
    ) -> ScrubberHTML:
        """Self-contained HTML: one range input per name in ``grid`` and the matching frame.

        ``labels`` gives each control's caption (default: its name); ``initial`` the values
        shown first (default: the first of each). The page needs no kernel and no network.
        """
        _check_grid(grid)
        labels = dict(labels or {})
        names = list(grid)
        values = {n: list(grid[n]) for n in names}
        start = []
        for n in names:
            v0 = (initial or {}).get(n, values[n][0])
            if v0 not in values[n]:
                raise ValueError(f"initial value {v0!r} for {n!r} is not one of {values[n]!r}")
            start.append(values[n].index(v0))
        background, pngs = self.overlays(grid)
        if self.controls:  # a live widget is showing: cache its background again at its own
            # resolution now, so that its first slider move is not a full redraw
            self._draw(self._values(self.controls), self.live_ratio)
        backdrop = "data:image/webp;base64," + base64.b64encode(background).decode()
        css_width = round(self.fig.get_figwidth() * self._dpi)  # shown at its authored size
        uris = ["data:image/png;base64," + base64.b64encode(p).decode() for p in pngs]
        uid = "scrub-" + hashlib.sha1(b"".join(pngs)).hexdigest()[:10]
        sizes = [len(values[n]) for n in names]
        controls = "".join(
            f'<label style="margin-right:1.5em">{html.escape(labels.get(n, n))} '
            f'<input type="range" min="0" max="{len(values[n]) - 1}" step="1" value="{i0}" '
            f'data-axis="{k}" aria-label="{html.escape(labels.get(n, n))}" '
            f'style="vertical-align:middle"> <output>{html.escape(fmt(values[n][i0]))}</output></label>'
            for k, (n, i0) in enumerate(zip(names, start, strict=True))
        )
        shown = [json.dumps([fmt(v) for v in values[n]]) for n in names]
        first = _flat_index(start, sizes)
        body = f"""<div class="optbook-scrubber" id="{uid}">
<div class="optbook-scrubber-controls">{controls}</div>
<div class="optbook-scrubber-figure" style="display:inline-block;max-width:100%;line-height:0;
 background:url({backdrop}) 0 0/100% 100% no-repeat"><img class="optbook-scrubber-frame"
 src="{uris[first]}" alt="{html.escape(self.alt)}" width="{css_width:g}"
 style="max-width:100%;height:auto"></div>
<script>
(function () {{
  var root = document.getElementById("{uid}");
  var frames = {json.dumps(uris)};
  var sizes = {json.dumps(sizes)};
  var shown = [{", ".join(shown)}];
  var inputs = root.querySelectorAll("input[type=range]");
  var img = root.querySelector("img");
  function show() {{
    var idx = 0;
    inputs.forEach(function (inp, k) {{
      var i = parseInt(inp.value, 10);
      idx = idx * sizes[k] + i;
      inp.parentNode.querySelector("output").textContent = shown[k][i];
    }});
    img.src = frames[idx];
  }}
  inputs.forEach(function (inp) {{ inp.addEventListener("input", show); }});
}})();
</script>
</div>"""
        return ScrubberHTML(body, n_frames=len(pngs), n_bytes=len(background) + sum(len(p) for p in pngs))


def _check_grid(grid: Mapping[str, Sequence]) -> None:
    if not grid or any(len(v) == 0 for v in grid.values()):
        raise ValueError(f"grid must map each name to a non-empty sequence, got {dict(grid)!r}")


def _flat_index(index: Sequence[int], sizes: Sequence[int]) -> int:
    flat = 0
    for i, s in zip(index, sizes, strict=True):
        flat = flat * s + i
    return flat


class ScrubberHTML:
    """HTML that Jupyter and the book display as is; also reports its frame count and size."""

    def __init__(self, body: str, n_frames: int, n_bytes: int):
        self.body, self.n_frames, self.n_bytes = body, n_frames, n_bytes

    def _repr_html_(self) -> str:
        return self.body

    def __repr__(self) -> str:
        return f"<static scrubber: {self.n_frames} frames, {self.n_bytes / 1e6:.2f} MB>"


def slider_values(control) -> list:
    """Every value a reader can set ``control`` to, in order: the grid ``min + k * step`` of a
    ``FloatSlider`` or ``IntSlider``, ``base ** (min + k * step)`` of a ``FloatLogSlider``, or
    the options of a selection widget. A figure can compute all of them ahead, so that moving
    the slider only looks them up. Floats are rounded (to 12 decimals, or 12 significant digits
    on a log slider), which removes the rounding noise of ``min + k * step``.
    """
    kind = type(control).__name__
    if hasattr(control, "options"):
        return [o[1] if isinstance(o, tuple) and len(o) == 2 and isinstance(o[0], str) else o
                for o in control.options]
    if not all(hasattr(control, a) for a in ("min", "max", "step")) or not control.step:
        raise TypeError(f"slider_values needs a slider with min, max and step, or options; got {kind}")
    n = int(round((control.max - control.min) / control.step))
    ks = np.arange(n + 1)
    if kind == "IntSlider":
        return [int(control.min + k * control.step) for k in ks]
    exps = control.min + ks * control.step
    if kind == "FloatLogSlider":
        return [float(f"{v:.12g}") for v in control.base**exps]
    return [round(float(v), 12) + 0.0 for v in exps]  # + 0.0 turns a -0.0 into 0.0


def show(name: str, obj) -> None:
    """Display ``obj`` and register it under ``name`` for the book's ``{glue:figure}``.

    In the book, a ``{glue:figure}`` directive then shows it as a numbered figure with a
    caption (tag the cell ``remove-output`` so it is not shown twice). Elsewhere (JupyterLab,
    Colab) it is simply displayed: the name travels in the output's metadata, which they ignore.

    The output is the one ``myst_nb.glue(name, obj, display=True)`` writes (the rich display
    of ``obj``, and ``metadata["scrapbook"] = {"name": name, "mime_prefix": ""}``, which the
    build reads back), made here without importing myst-nb in the kernel: its glue module pulls
    in nbformat and jsonschema, about a second of every notebook's start (tests/test_widgets.py
    holds the two outputs equal).
    """
    from IPython.core.formatters import format_display_data
    from IPython.display import display

    bundle, metadata = format_display_data(obj)
    metadata["scrapbook"] = {"name": name, "mime_prefix": ""}
    display(bundle, raw=True, metadata=metadata)
