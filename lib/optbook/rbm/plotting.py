"""Drawing RBMs: small images in a mosaic (digits, samples, filters) and the bipartite graph.

:func:`tile_images` only lays images out in an array; :func:`draw_images` and
:func:`draw_bipartite` draw onto the axes they are given. Nothing here computes a model quantity.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes

from optbook._validation import check_int

__all__ = ["tile_images", "draw_images", "draw_bipartite"]


def _array(images) -> np.ndarray:
    if hasattr(images, "detach"):  # a torch tensor
        images = images.detach().cpu().numpy()
    return np.asarray(images, dtype=float)


def tile_images(
    images, n_rows: int, n_cols: int, shape: tuple[int, int] = (8, 8), pad: int = 1
) -> np.ndarray:
    """Lay the first ``n_rows * n_cols`` flattened images of ``images`` out row by row.

    ``images`` has shape (n, height·width); each row is reshaped to ``shape``. Images are
    separated by ``pad`` pixels of NaN (drawn as the axes background); missing images are
    left blank. Returns an array of shape
    (n_rows·(height + pad) − pad, n_cols·(width + pad) − pad).
    """
    n_rows = check_int("n_rows", n_rows, low=1)
    n_cols = check_int("n_cols", n_cols, low=1)
    pad = check_int("pad", pad, low=0)
    h, w = (check_int("image height", shape[0], low=1), check_int("image width", shape[1], low=1))
    x = _array(images)
    if x.ndim != 2 or x.shape[1] != h * w:
        raise ValueError(f"images must have shape (n, {h * w}), got {x.shape}")
    out = np.full((n_rows * (h + pad) - pad, n_cols * (w + pad) - pad), np.nan)
    for i in range(min(len(x), n_rows * n_cols)):
        r, c = divmod(i, n_cols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = x[i].reshape(h, w)
    return out


def draw_images(
    ax: Axes,
    images,
    n_rows: int,
    n_cols: int,
    *,
    shape: tuple[int, int] = (8, 8),
    pad: int = 1,
    cmap: str = "gray_r",
    vmin: float | None = 0.0,
    vmax: float | None = 1.0,
    symmetric: bool = False,
):
    """Draw a mosaic of ``images`` (see :func:`tile_images`) on ``ax`` without ticks.

    Pixel values run from ``vmin`` (white with the default ``gray_r``) to ``vmax`` (black).
    ``symmetric=True`` centres the colour scale on zero at ± the largest magnitude, for
    weights (use a diverging ``cmap`` such as ``"RdBu_r"``). Returns the
    :class:`~matplotlib.image.AxesImage`, whose ``set_data`` a live figure can call with
    another :func:`tile_images` mosaic of the same layout.
    """
    mosaic = tile_images(images, n_rows, n_cols, shape=shape, pad=pad)
    if symmetric:
        m = np.nanmax(np.abs(mosaic)) if np.isfinite(mosaic).any() else 1.0
        vmin, vmax = -m, m
    ax.set_facecolor("white")
    im = ax.imshow(mosaic, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    return im


def draw_bipartite(
    ax: Axes,
    n_visible: int,
    n_hidden: int,
    *,
    visible_label: str = "visible $v$",
    hidden_label: str = "hidden $h$",
    colors: tuple[str, str] = ("#0072B2", "#D55E00"),
) -> None:
    """The graph of an RBM: a row of visible units, a row of hidden units above it, and an
    edge between every visible and every hidden unit (and none within a layer)."""
    n_visible = check_int("n_visible", n_visible, low=1)
    n_hidden = check_int("n_hidden", n_hidden, low=1)
    xv = np.linspace(0, 1, n_visible) if n_visible > 1 else np.array([0.5])
    xh = np.linspace(0.1, 0.9, n_hidden) if n_hidden > 1 else np.array([0.5])
    for x0 in xv:
        for x1 in xh:
            ax.plot([x0, x1], [0, 1], color="0.75", lw=0.6, zorder=1)
    ax.scatter(xv, np.zeros_like(xv), s=160, color="white", edgecolor=colors[0], lw=2, zorder=2)
    ax.scatter(xh, np.ones_like(xh), s=160, color="white", edgecolor=colors[1], lw=2, zorder=2)
    ax.text(1.06, 0, visible_label, va="center", color=colors[0])
    ax.text(1.06, 1, hidden_label, va="center", color=colors[1])
    ax.set_xlim(-0.05, 1.35)
    ax.set_ylim(-0.25, 1.25)
    ax.axis("off")
