"""Plot helpers: they draw arrays they are given onto axes they are given, and compute nothing.

Compute first (``Landscape.grid``, ``run_trajectory``, ``training.train``), then draw.

Importing this module (every notebook does) also sets how figures reach the reader's screen
in a Jupyter kernel, see :func:`use_book_figures`: sharp on 2x screens, and no text smaller
than :data:`MIN_TEXT_CSS_PX` CSS pixels where the book shows the figure.
"""

from __future__ import annotations

import contextlib
import struct
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence

import matplotlib.colors as mcolors
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text

__all__ = [
    "PALETTE", "draw_contours", "draw_path", "draw_learning_curves",
    "PIXEL_RATIO", "MIN_TEXT_CSS_PX", "CONTENT_WIDTH_PX", "TEXT_SIZE_KEY",
    "legible", "recording_text_sizes", "book_png", "png_text", "png_with_text", "png_size",
    "use_book_figures",
]

# One colour per method, used throughout the book (colour-blind safe, Okabe & Ito).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")


def draw_contours(
    ax: Axes,
    X: np.ndarray,
    Y: np.ndarray,
    Z: np.ndarray,
    *,
    levels: int = 18,
    log: bool = True,
    minimiser: Sequence[float] | None = None,
    cmap: str = "Greys",
):
    """Contour lines of ``Z`` over the grid ``X, Y``; log-spaced levels by default.

    Log spacing (of ``Z - min Z``) shows both the steep walls and the flat valley floor of
    ill-conditioned functions. For functions that go negative (saddles), pass ``log=False``.
    """
    if X.shape != Y.shape or X.shape != Z.shape:
        raise ValueError(f"X, Y, Z must share a shape, got {X.shape}, {Y.shape}, {Z.shape}")
    if log:
        shifted = Z - Z.min()
        positive = shifted[shifted > 0]
        lo, hi = positive.min(), positive.max()
        lv = np.geomspace(max(lo, hi * 1e-6), hi, levels)
        shifted = np.where(shifted > 0, shifted, lv[0] / 2)  # LogNorm needs positive values
        cs = ax.contour(X, Y, shifted, levels=lv, cmap=cmap, norm=mcolors.LogNorm(lv[0], lv[-1]),
                        linewidths=0.7)
    else:
        cs = ax.contour(X, Y, Z, levels=levels, cmap=cmap, linewidths=0.7)
    if minimiser is not None:
        ax.plot(*minimiser, marker="*", color="black", markersize=11, linestyle="none", zorder=3)
    ax.set_xlim(X.min(), X.max())
    ax.set_ylim(Y.min(), Y.max())
    return cs


def draw_path(ax: Axes, path: np.ndarray, *, color: str, label: str | None = None, **kw) -> Line2D:
    """A trajectory ``path`` of shape ``(n, 2)`` as a line with small markers; returns the line."""
    path = np.asarray(path)
    if path.ndim != 2 or path.shape[1] != 2:
        raise ValueError(f"path must have shape (n, 2), got {path.shape}")
    style = dict(marker="o", markersize=2.5, linewidth=1.3, alpha=0.9)
    style.update(kw)
    (line,) = ax.plot(path[:, 0], path[:, 1], color=color, label=label, **style)
    return line


def draw_learning_curves(
    ax: Axes,
    curves: Mapping[str, Sequence[float]],
    *,
    xlabel: str = "epoch",
    ylabel: str = "loss",
    logy: bool = True,
    colors: Sequence[str] = PALETTE,
    **kw,
) -> list[Line2D]:
    """One line per entry of ``curves`` (label → values indexed by epoch or step)."""
    lines = []
    for (label, values), color in zip(curves.items(), colors, strict=False):
        (line,) = ax.plot(np.arange(len(values)), values, label=label, color=color, **kw)
        lines.append(line)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False)
    return lines


# How figures reach the reader's screen -------------------------------------------------------
# A figure is shown at ``fig.dpi`` CSS pixels per inch (the notebooks use 72-80), scaled down to
# the content column where it is wider. Its bitmap has PIXEL_RATIO times as many pixels, so it
# stays sharp on 2x ("retina") screens, and its fonts are raised where they would measure less
# than MIN_TEXT_CSS_PX CSS pixels at that width.

#: Bitmap pixels per CSS pixel in every figure the book shows.
PIXEL_RATIO = 2
#: The smallest text a figure may show, in CSS pixels, where the book shows it.
MIN_TEXT_CSS_PX = 9.0
#: Width of the book's content column in CSS pixels in a 1280-px-wide window (the theme shows a
#: figure at most 672 px wide there; a little less for safety). A wider figure is scaled down to
#: it. tests/browser/test_figures.py measures the text where the figures really are shown.
CONTENT_WIDTH_PX = 668
#: PNG text chunk that records a figure's smallest drawn text, in bitmap pixels ("none": no text).
TEXT_SIZE_KEY = "optbook:min-text-px"


def legible(fig: Figure, *, width_px: float = CONTENT_WIDTH_PX, min_px: float = MIN_TEXT_CSS_PX) -> float:
    """Raise every text of ``fig`` that the book would show smaller than ``min_px`` CSS px.

    ``fig`` is shown ``fig.get_figwidth() * fig.dpi`` CSS px wide, scaled down to ``width_px``
    if wider; a font of ``s`` points then measures ``s * fig.dpi / 72 * scale`` CSS px. Texts
    (tick labels, legends, annotations, titles) below that floor are set to it; larger ones are
    left alone. Returns the floor in points. Calling it again changes nothing.
    """
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {fig!r}")
    if not width_px > 0 or not min_px > 0:
        raise ValueError(f"width_px and min_px must be positive, got {width_px!r}, {min_px!r}")
    natural = fig.get_figwidth() * fig.dpi
    scale = min(1.0, width_px / natural)
    floor = min_px * 72 / (fig.dpi * scale)
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            # set_tick_params also sets the size of tick labels made later, at draw time
            for which, ticks in (("major", axis.get_major_ticks()), ("minor", axis.get_minor_ticks())):
                if ticks and ticks[0].label1.get_fontsize() < floor:
                    axis.set_tick_params(which=which, labelsize=floor)
    for text in fig.findobj(Text):
        if text.get_fontsize() < floor:
            text.set_fontsize(floor)
    return floor


@contextlib.contextmanager
def recording_text_sizes() -> Iterator[list[float]]:
    """Within the block, the font size (points) of every non-empty text matplotlib draws."""
    sizes: list[float] = []
    original = Text.draw

    def draw(self, renderer, *args, **kwargs):
        if self.get_visible() and self.get_text().strip():
            sizes.append(float(self.get_fontsize()))
        return original(self, renderer, *args, **kwargs)

    Text.draw = draw
    try:
        yield sizes
    finally:
        Text.draw = original


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_text(png: bytes, key: str, value: str) -> bytes:
    """``png`` with a ``tEXt`` chunk ``key = value`` added before its end."""
    if not png.startswith(b"\x89PNG\r\n\x1a\n") or not png.endswith(b"IEND\xaeB`\x82"):
        raise ValueError("png must be a complete PNG file")
    chunk = _png_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1"))
    return png[:-12] + chunk + png[-12:]


def png_text(png: bytes) -> dict[str, str]:
    """The ``tEXt`` chunks of a PNG file, as a dict."""
    out, pos = {}, 8
    while pos + 8 <= len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        kind, data = png[pos + 4:pos + 8], png[pos + 8:pos + 8 + length]
        if kind == b"tEXt":
            key, _, value = data.partition(b"\0")
            out[key.decode("latin-1")] = value.decode("latin-1")
        pos += 12 + length
    return out


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height in pixels, from the PNG header."""
    return struct.unpack(">II", png[16:24])


def _print_png(fig: Figure, dpi: float, render: Callable[[list[float], int], bool]) -> bytes | None:
    """``fig`` as a PNG at ``dpi`` with a tight bounding box, or None, as ``render`` decides.

    ``print_figure`` first lays the figure out (a draw with the drawing switched off, which
    draws every text that the real draw will) and finds the tight box; only then does it
    rasterise and encode the image (about a third of its time for the book's figures). Between
    the two, ``render(sizes, width)`` gets the font size of every text drawn so far and the
    bitmap's width in pixels (the Agg canvas's, ``int`` of the tight box's width); if it returns
    False, the image is neither rasterised nor encoded. tests/test_book_figures.py checks both
    numbers against a render.
    """
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    original = FigureCanvasAgg.print_png
    sizes, asked = [], []

    def print_png(canvas, filename_or_obj, **kwargs):
        if "bbox_inches_restore" not in kwargs:  # matplotlib fetching its renderer for the layout
            return original(canvas, filename_or_obj)
        asked.append(True)
        if render(list(sizes), int(canvas.figure.bbox.width)):
            return original(canvas, filename_or_obj)
        filename_or_obj.write(b"skipped")
        return None

    buf = io.BytesIO()
    FigureCanvasAgg.print_png = print_png
    try:
        with recording_text_sizes() as sizes:
            fig.canvas.print_figure(buf, format="png", dpi=dpi, bbox_inches="tight",
                                    facecolor=fig.get_facecolor(), edgecolor=fig.get_edgecolor())
    finally:
        FigureCanvasAgg.print_png = original
    png = buf.getvalue()
    if png == b"skipped":
        return None
    if not asked and not render(list(sizes), png_size(png)[0]):  # a canvas with its own print_png
        return None  # (asked afterwards, from the image)
    return png


def book_png(fig: Figure) -> bytes | None:
    """``fig`` as the book shows it: :func:`legible`, rendered at ``PIXEL_RATIO * fig.dpi`` with a
    tight bounding box, stamped with its smallest drawn text (``TEXT_SIZE_KEY``, bitmap px).
    None for an empty figure (nothing to show)."""
    if not fig.axes and not fig.lines and not fig.texts and not fig.images:
        return None
    css_dpi = fig.dpi  # (print_figure sets fig.dpi to dpi while it prints)
    dpi = css_dpi * PIXEL_RATIO
    width_px = CONTENT_WIDTH_PX
    for attempt in range(3):
        legible(fig, width_px=width_px)
        smallest = []  # CSS px, where the book shows the image

        def large_enough(sizes: list[float], width: int) -> bool:
            if not sizes:
                return True  # no text to read
            # The tight box adds a margin (and whatever sticks out of the figure), so the image
            # can be wider than the figure that legible() sized the text for: check, and tighten.
            shown = width / PIXEL_RATIO
            smallest.append(min(sizes) * css_dpi / 72 * min(1.0, CONTENT_WIDTH_PX / shown))  # noqa: B023
            return smallest[0] >= MIN_TEXT_CSS_PX - 1e-6 or attempt == 2  # noqa: B023

        # rendered only once its text is large enough (the check needs only the layout)
        with recording_text_sizes() as sizes:
            png = _print_png(fig, dpi, large_enough)  # calls large_enough right here
        if png is not None:
            break
        width_px *= smallest[0] / MIN_TEXT_CSS_PX * 0.995
    if not sizes:
        return png_with_text(png, TEXT_SIZE_KEY, "none")  # no text to read
    return png_with_text(png, TEXT_SIZE_KEY, f"{min(sizes) * dpi / 72:.2f}")


def _book_png_formatter(fig: Figure):
    import base64

    png = book_png(fig)
    if png is None:
        return None
    w, h = png_size(png)
    return base64.b64encode(png).decode("ascii"), {"width": w // PIXEL_RATIO, "height": h // PIXEL_RATIO}


def use_book_figures(shell=None) -> bool:
    """Show every matplotlib figure of this IPython session as :func:`book_png` does.

    Registers the PNG formatter that the inline backend, ``display(fig)`` and myst-nb's ``glue``
    all use; the PNG's width and height metadata (CSS px) make Jupyter and the book show it at
    its ``fig.dpi`` size, with ``PIXEL_RATIO`` bitmap pixels per CSS pixel. Called when this
    module is imported. Returns False (and does nothing) outside IPython.
    """
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return False
    try:
        # Importing the inline backend configures it once, resetting the figure formatters; do
        # that first so that it cannot undo the formatter below later.
        import matplotlib_inline.backend_inline  # noqa: F401
    except ImportError:
        pass
    formatters = shell.display_formatter.formatters
    for mime in ("image/svg+xml", "image/jpeg", "application/pdf"):
        formatters[mime].pop(Figure, None)  # one image per figure
    formatters["image/png"].for_type(Figure, _book_png_formatter)
    return True


use_book_figures()
