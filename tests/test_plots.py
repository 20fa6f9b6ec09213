import io

import numpy as np
from PIL import Image

from tfgrad import plots


def _write_photo(path, size, colour):
    Image.new("RGB", size, colour).save(path)


def _png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return Image.open(io.BytesIO(png)).size


def test_walk_photo_strip_one_row_per_walk_with_missing_photos(tmp_path):
    paths = []
    for item, colour in enumerate(["red", "green", "blue", "black", "white", "yellow"]):
        paths.append(str(tmp_path / f"{item}.jpg"))
        _write_photo(paths[-1], (12, 18), colour)  # tall, as catalogue photos are
    image_paths = [[paths[0], paths[1], "", paths[2]], [paths[3], None, paths[4], paths[5]]]
    levels = np.array([[0.1, 0.4, np.nan, 0.9], [0.8, 0.5, 0.2, np.nan]])
    png = plots.walk_photo_strip_png(
        image_paths, strengths=[0.0, 0.1, 0.2, 0.3], levels=levels,
        titles=["more floral\nfrom red tee", "less dark\nfrom black top"],
        captions=[["red tee", "green tee", "no photo", "blue tee"],
                  ["black top", "no photo", "white top", "yellow top"]])
    # image_rows_png's layout at 130 dpi: 1.1 in per photo + 0.6 in of row titles, 1.35 in
    # per row (matplotlib truncates to whole pixels).
    assert _png_size(png) == (int((1.1 * 4 + 0.6) * 130), int(1.35 * 2 * 130))


def test_image_rows_keeps_its_size_by_default():
    rows = [np.zeros((3, 8, 8, 3), np.uint8), np.zeros((2, 8, 8, 3), np.uint8)]
    assert _png_size(plots.image_rows_png(rows)) == (int((1.1 * 3 + 0.6) * 80),
                                                    int(1.35 * 2 * 80))  # ADDE's pictures
