"""Drawing for §11.5: small images with captions, for looking at a model's inputs and its
mistakes. These functions draw what they are given and compute nothing."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes

__all__ = ["draw_digits"]


def draw_digits(
    axes: Sequence[Axes],
    images,
    *,
    titles: Sequence[str] | None = None,
    colors: Sequence[str] | None = None,
    shape: tuple[int, int] = (8, 8),
    cmap: str = "gray_r",
    vmax: float | None = None,
) -> list:
    """Draw ``images[i]`` (a flat row of ``shape[0] * shape[1]`` pixels) on ``axes[i]``.

    ``axes`` is a flat sequence (e.g. ``fig.subplots(2, 6).ravel()``) with at least as many
    axes as images; axes left over are switched off. ``titles[i]`` captions image ``i`` in
    ``colors[i]`` (default black); all images share one grey scale from 0 to ``vmax``
    (default: the largest pixel over all images), so a wrongly scaled input stands out.
    Returns the :class:`~matplotlib.image.AxesImage` of each image.
    """
    axes = list(np.ravel(np.asarray(axes, dtype=object)))
    if hasattr(images, "detach"):  # a torch tensor
        images = images.detach().cpu().numpy()
    images = np.asarray(images, dtype=float)
    rows, cols = shape
    if images.ndim != 2 or images.shape[1] != rows * cols:
        raise ValueError(
            f"images must have shape (n, {rows * cols}) for shape={shape}, got {images.shape}"
        )
    n = len(images)
    if len(axes) < n:
        raise ValueError(f"need at least one axes per image: {n} images, {len(axes)} axes")
    for name, seq in (("titles", titles), ("colors", colors)):
        if seq is not None and len(seq) != n:
            raise ValueError(f"{name} must have one entry per image ({n}), got {len(seq)}")
    if vmax is None:
        vmax = float(images.max()) if n and images.max() > 0 else 1.0
    drawn = []
    for i, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.set_axis_off()
            continue
        drawn.append(ax.imshow(images[i].reshape(rows, cols), cmap=cmap, vmin=0.0, vmax=vmax))
        if titles is not None:
            ax.set_title(titles[i], fontsize=8, color=colors[i] if colors is not None else "black")
    return drawn
