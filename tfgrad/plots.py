"""Pictures: walks' relevance curves and photo strips, recommendation grids, rows of images and
block matrices, as PNG bytes (for files and TensorBoard)."""

from __future__ import annotations

import io
from typing import Optional, Sequence

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tfgrad.data.images import load_images  # noqa: E402

# The tile of an item without a photo: light grey, so that it reads as a missing photo and not
# as the white background of catalogue photos.
_NO_PHOTO_GREY = 225


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
    return _png(figure, dpi=100)


def walk_photo_strip_png(image_paths: Sequence[Sequence[Optional[str]]],
                         strengths: Sequence[float], levels: np.ndarray,
                         titles: Sequence[str], captions: Sequence[Sequence[str]] = (),
                         photo_size: int = 160, dpi: int = 130) -> bytes:
    """One row per walk: the reference's photo, then each step's, with γ and the walked
    attribute's level under each.

    Where items have photos a shopper judges the walk by eye, and binary-tag catalogues (H&M)
    have no graded relevance for `walk_relevance_png` to draw.

    Args:
      image_paths: [W, N+1] photo files, the reference first; "" or None where an item has no
        photo (a grey tile, captioned with the item's name when `captions` gives it).
      strengths: [N+1] γ of each column (0 for the reference).
      levels: [W, N+1] the walked attribute's level of each item; NaN (not graded) prints '–'.
      titles: [W] each row's label (the move and the reference's name), in lines of at most
        ~20 characters: it stands sideways, as high as one row.
      captions: optional [W, N+1] item names, the first line under each photo.
      photo_size: the side photos are decoded to, in pixels (padded white, not stretched).
      dpi: the zoom of `image_rows_png`; its default (80) is too small to read three caption
        lines.
    """
    paths = np.array([[path or "" for path in row] for row in image_paths], dtype=object)
    has_photo = paths != ""
    tiles = np.full(paths.shape + (photo_size, photo_size, 3), _NO_PHOTO_GREY, np.uint8)
    if has_photo.any():
        tiles[has_photo] = load_images(paths[has_photo].tolist(), photo_size)
    levels = np.asarray(levels, np.float64)
    lines = [[("" if walk >= len(captions) else f"{captions[walk][step][:16]}\n")
              + f"γ {strengths[step]:.2f}\n"
              + ("level –" if np.isnan(levels[walk, step]) else f"level {levels[walk, step]:.2f}")
              for step in range(paths.shape[1])] for walk in range(paths.shape[0])]
    return image_rows_png(list(tiles), titles, lines, dpi=dpi)


def _png(figure, dpi: int) -> bytes:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    return buffer.getvalue()


def block_matrix_png(matrix: np.ndarray, row_blocks: Sequence[int], column_blocks: Sequence[int],
                     block_names: Sequence[str], title: str = "") -> bytes:
    """|matrix| as a heat map with the blocks' borders drawn (ADDE's memory block: rows are
    attribute values, columns the attributes' subspaces; a disentangled memory is dark off
    the diagonal blocks).

    Args:
      matrix: [R, C].
      row_blocks, column_blocks: the blocks' sizes along each axis (same count).
      block_names: one name per block, on the row axis.
    """
    magnitude = np.abs(np.asarray(matrix, np.float64))
    figure, axis = plt.subplots(figsize=(6.4, 4.8))
    image = axis.imshow(magnitude, aspect="auto", cmap="magma", interpolation="nearest")
    figure.colorbar(image, ax=axis, label="|M|")
    for edge in np.cumsum(row_blocks)[:-1]:
        axis.axhline(edge - 0.5, color="cyan", linewidth=0.6)
    for edge in np.cumsum(column_blocks)[:-1]:
        axis.axvline(edge - 0.5, color="cyan", linewidth=0.6)
    starts = np.concatenate([[0], np.cumsum(row_blocks)[:-1]])
    axis.set_yticks(starts + np.asarray(row_blocks) / 2 - 0.5)
    axis.set_yticklabels(block_names, fontsize=7)
    axis.set_xticks([])
    axis.set_xlabel("subspace of each attribute", fontsize=8)
    axis.set_title(title, fontsize=9)
    return _png(figure, dpi=90)


def recommendation_grid_png(images: np.ndarray, purchased: Sequence[np.ndarray],
                            recommended: np.ndarray, hits: Sequence[np.ndarray] = (),
                            titles: Sequence[str] = ()) -> bytes:
    """Two rows per user: what they bought, then their top-k recommendations (left to right,
    best first); a recommendation framed in green is the user's held-out purchase.

    Args:
      images: [M, S, S, 3] uint8 item photos.
      purchased: per user, the bought items to show.
      recommended: [U, k] recommended items.
      hits: per user, [k] bool, which recommendations are the held-out item.
      titles: per user, a label.
    """
    num_users, top_k = recommended.shape
    columns = max(top_k, max((len(items) for items in purchased), default=0))
    figure, axes = plt.subplots(2 * num_users, columns, squeeze=False,
                                figsize=(1.1 * columns, 2.5 * num_users))
    for user in range(num_users):
        for row, items in ((2 * user, purchased[user][:columns]),
                           (2 * user + 1, recommended[user])):
            for column, axis in enumerate(axes[row]):
                axis.set_xticks([])
                axis.set_yticks([])
                for spine in axis.spines.values():
                    spine.set_visible(False)
                if column >= len(items):
                    continue
                axis.imshow(images[items[column]])
                if row % 2 and len(hits) > user and hits[user][column]:
                    for spine in axis.spines.values():
                        spine.set_visible(True)
                        spine.set_color("tab:green")
                        spine.set_linewidth(3)
            label = "bought" if row % 2 == 0 else f"top {top_k}"
            if row % 2 == 0 and user < len(titles):
                label = f"{titles[user]}\n{label}"
            axes[row][0].set_ylabel(label, fontsize=7)
    return _png(figure, dpi=80)


def image_rows_png(rows: Sequence[np.ndarray], row_titles: Sequence[str] = (),
                   captions: Sequence[Sequence[str]] = (), dpi: int = 80) -> bytes:
    """One row of images per entry (generated samples per category, a user's bought /
    retrieved / designed items, a tailoring strip), an optional caption under each image.

    Args:
      rows: per row, [k, S, S, 3] uint8 images (rows may differ in k).
      row_titles: per row, a label on its left.
      captions: per row, per image, a line under it (e.g. a preference score).
      dpi: pixels per inch; the layout is fixed in inches, so this zooms photos and text alike.
    """
    columns = max((len(images) for images in rows), default=1)
    figure, axes = plt.subplots(len(rows), columns, squeeze=False,
                                figsize=(1.1 * columns + 0.6, 1.35 * len(rows)))
    for row, images in enumerate(rows):
        for column, axis in enumerate(axes[row]):
            axis.set_xticks([])
            axis.set_yticks([])
            for spine in axis.spines.values():
                spine.set_visible(False)
            if column >= len(images):
                continue
            axis.imshow(images[column])
            if row < len(captions) and column < len(captions[row]):
                axis.set_xlabel(captions[row][column], fontsize=6)
        if row < len(row_titles):
            axes[row][0].set_ylabel(row_titles[row], fontsize=7)
    return _png(figure, dpi=dpi)
