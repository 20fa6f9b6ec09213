"""Pictures of walks: relevance curves along γ, as PNG bytes (for files and TensorBoard)."""

from __future__ import annotations

import io
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def walk_relevance_png(relevance: np.ndarray, walked_attribute: Sequence[int],
                       directions: Sequence[int], attribute_names: Sequence[str],
                       strengths: np.ndarray, titles: Sequence[str] = ()) -> bytes:
    """One panel per walk: the walked attribute's relevance (bold) and every other one (grey).

    A good walk shows a bold line rising ("more") or falling ("less") and flat grey lines.

    Args:
      relevance: [P, N, T] relevance of every attribute at every step.
      walked_attribute: [P] the walked attribute's column.
      directions: [P] +1 "more" / -1 "less".
      attribute_names: the T names.
      strengths: [N] γ of each step (0 for the reference item, where a walk starts).
      titles: optional panel titles (e.g. the reference item's name).
    """
    num_walks = len(relevance)
    columns = min(num_walks, 4)
    rows = int(np.ceil(num_walks / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 3.0 * rows),
                                squeeze=False, sharey=True)
    for panel, axis in enumerate(axes.flat):
        if panel >= num_walks:
            axis.axis("off")
            continue
        attribute = walked_attribute[panel]
        for other in range(relevance.shape[2]):
            if other != attribute:
                axis.plot(strengths, relevance[panel, :, other], color="0.75", linewidth=0.8)
        axis.plot(strengths, relevance[panel, :, attribute], color="tab:red", linewidth=2.2,
                  marker="o", markersize=3)
        word = "more" if directions[panel] > 0 else "less"
        title = f"{word} {attribute_names[attribute]}"
        if panel < len(titles):
            title = f"{titles[panel]}\n{title}"
        axis.set_title(title, fontsize=8)
        axis.set_xlabel("γ", fontsize=8)
        axis.set_ylim(-0.02, 1.02)
        axis.tick_params(labelsize=7)
    axes[0, 0].set_ylabel("relevance", fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()
