"""Product photos by category (the conditional image models' data): H&M and Fashion Product
Images written in their public layouts, the top / min_photos filters, the errors, the
training dataset (range, dtypes, shapes, mirrored flips), and the counts on ../shared/data."""

import os

import numpy as np
import pytest
import tensorflow as tf

from support.data_paths import FASHION_PRODUCTS, HM, needs_shared_data
from tfgrad.data.categories import (CategorisedPhotos, category_dataset,
                                    load_fashion_product_categories, load_hm_categories,
                                    read_styles)
from tfgrad.data.images import load_images

STYLES_HEADER = ("id,gender,masterCategory,subCategory,articleType,baseColour,season,year,"
                 "usage,productDisplayName,has_image")
needs_fashion_products = pytest.mark.skipif(
    not os.path.isdir(FASHION_PRODUCTS),
    reason=f"Fashion Product Images are not at {FASHION_PRODUCTS}")


def _write_jpeg(path, colour=(10, 200, 30), size=(30, 20)):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pixels = np.broadcast_to(np.array(colour, np.uint8), (*size, 3)).copy()
    tf.io.write_file(path, tf.io.encode_jpeg(pixels))


def write_hm_articles(folder, articles, photographed):
    """articles: (article_id, prod_name, product_group_name); photos in H&M's layout."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "articles.csv"), "w") as f:
        f.write("article_id,product_code,prod_name,product_group_name,colour_group_name\n")
        f.write("".join(f"{a},{a[:7]},{n},{g},Black\n" for a, n, g in articles))
    for article in photographed:
        _write_jpeg(os.path.join(folder, "images", article[:3], f"{article}.jpg"))


def _hm_shop(folder):
    groups = {"Garment Upper body": 4, "Garment Lower body": 3, "Underwear": 2, "Shoes": 2,
              "Bags": 1}
    articles, photographed = [], []
    for group, count in groups.items():
        for _ in range(count):
            article = f"0{100 + len(articles):03d}000{len(articles):03d}"
            articles.append((article, f"{group} item {len(articles)}", group))
            photographed.append(article)
    # Articles without photos do not count, even in a large group; one has no group.
    articles += [(f"0900000{i:03d}", "Unseen", "Accessories") for i in range(6)]
    articles.append(("0950000001", "No group", ""))
    photographed.append("0950000001")
    write_hm_articles(folder, articles, photographed)
    return articles


def test_hm_categories_count_only_photographed_articles(tmp_path, capsys):
    _hm_shop(str(tmp_path))
    photos = load_hm_categories(str(tmp_path), top=None)
    assert isinstance(photos, CategorisedPhotos) and photos.name == "hm"
    # Largest first; Shoes and Underwear tie at 2 and are ordered by name.
    assert photos.category_names == ("Garment Upper body", "Garment Lower body", "Shoes",
                                     "Underwear", "Bags")
    assert photos.counts().tolist() == [4, 3, 2, 2, 1]
    assert "Accessories" not in photos.category_names
    assert "0950000001" not in photos.item_ids and "no product_group_name" in \
        capsys.readouterr().out
    assert len(photos) == 12 and photos.item_names[0] == "Garment Upper body item 0"
    for item, path, category in zip(photos.item_ids, photos.image_paths, photos.categories):
        assert path.endswith(os.path.join(item[:3], f"{item}.jpg")) and os.path.exists(path)
        assert photos.item_names[list(photos.item_ids).index(item)].startswith(
            photos.category_names[category])


def test_hm_top_and_min_photos(tmp_path, capsys):
    _hm_shop(str(tmp_path))
    top = load_hm_categories(str(tmp_path), top=3)
    assert top.category_names == ("Garment Upper body", "Garment Lower body", "Shoes")
    assert top.dropped_categories == (("Underwear", 2), ("Bags", 1))
    assert "beyond the top 3" in capsys.readouterr().out
    large = load_hm_categories(str(tmp_path), top=None, min_photos=3)
    assert large.counts().tolist() == [4, 3]
    out = capsys.readouterr().out
    assert "fewer than 3 photos" in out and "Shoes (2), Underwear (2), Bags (1)" in out
    other = load_hm_categories(str(tmp_path), column="colour_group_name")
    assert other.category_names == ("Black",) and len(other) == 13
    moved = str(tmp_path / "photos")
    os.rename(str(tmp_path / "images"), moved)
    assert len(load_hm_categories(str(tmp_path), images_dir=moved, top=None)) == 12


def test_hm_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="H&M folder"):
        load_hm_categories(str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="articles.csv"):
        load_hm_categories(str(tmp_path))
    _hm_shop(str(tmp_path))
    with pytest.raises(ValueError, match="no column.*garment_kind.*it has article_id"):
        load_hm_categories(str(tmp_path), column="garment_kind")
    with pytest.raises(FileNotFoundError, match="image folder"):
        load_hm_categories(str(tmp_path), images_dir=str(tmp_path / "no_photos"))
    with pytest.raises(ValueError, match="no product_group_name group .* has 5 photos"):
        load_hm_categories(str(tmp_path), min_photos=5)
    with pytest.raises(ValueError, match="top must be"):
        load_hm_categories(str(tmp_path), top=0)


STYLES = [  # id, masterCategory, subCategory, articleType, productDisplayName
    ("1001", "Apparel", "Topwear", "Tshirts", "Nike Men Blue T-shirt"),
    ("1002", "Apparel", "Topwear", "Shirts", "Peter England Men Shirt"),
    ("1003", "Apparel", "Bottomwear", "Jeans", "Levis Men Jeans"),
    # The public file's unquoted commas inside the name.
    ("1004", "Footwear", "Shoes", "Casual Shoes", "Puma Men, Black, Sneakers"),
    ("1005", "Footwear", "Shoes", "Casual Shoes", 'Nike Women\'s 3.5"" Shoe'),
    ("1006", "Accessories", "Watches", "Watches", "Titan Women Silver Watch"),
    ("1007", "Accessories", "Watches", "Watches", "No photo for this watch"),
    ("1008", "Apparel", "Topwear", "Tshirts", "Also without photo"),
]


def write_styles(directory, has_image_column=True, quote_row="1005"):
    """styles.csv (with or without the has_image column) and images/<id>.jpg for all but
    1007 and 1008; the name of `quote_row` is quoted as csv writers do."""
    os.makedirs(os.path.join(directory, "images"), exist_ok=True)
    header = STYLES_HEADER if has_image_column else STYLES_HEADER.rsplit(",", 1)[0]
    lines = [header]
    for style_id, master, sub, article, name in STYLES:
        photographed = style_id not in ("1007", "1008")
        if style_id == quote_row:
            name = f'"{name}"'
        line = (f"{style_id},Men,{master},{sub},{article},Black,Summer,2012.0,Casual,{name}")
        lines.append(line + (f",{photographed}" if has_image_column else ""))
        if photographed:
            _write_jpeg(os.path.join(directory, "images", f"{style_id}.jpg"), size=(80, 60))
    with open(os.path.join(directory, "styles.csv"), "w") as f:
        f.write("\n".join(lines) + "\n")


@pytest.mark.parametrize("has_image_column", [True, False])
def test_read_styles_mends_unquoted_commas(tmp_path, has_image_column):
    write_styles(str(tmp_path), has_image_column)
    styles = read_styles(str(tmp_path / "styles.csv"))
    assert len(styles) == 8 and styles.columns[0] == "id"
    names = dict(zip(styles.id, styles.productDisplayName))
    assert names["1004"] == "Puma Men, Black, Sneakers"
    assert names["1005"] == "Nike Women's 3.5\" Shoe"
    if has_image_column:
        assert styles.set_index("id").has_image.to_dict()["1004"] == "True"


def test_read_styles_first_row_with_extra_commas(tmp_path):
    # pandas would take a first row with extra fields for an index; the csv reader does not.
    with open(tmp_path / "styles.csv", "w") as f:
        f.write(STYLES_HEADER + "\n7,Men,Apparel,Topwear,Shirts,Red,Fall,2011.0,Casual,"
                "A, B, C,True\n8,Men,Apparel,Topwear,Shirts,Red,Fall,2011.0,Casual,D,False\n")
    styles = read_styles(str(tmp_path / "styles.csv"))
    assert styles.id.tolist() == ["7", "8"] and styles.productDisplayName[0] == "A, B, C"
    assert styles.has_image.tolist() == ["True", "False"]


def test_fashion_product_categories_by_column(tmp_path, capsys):
    write_styles(str(tmp_path))
    master = load_fashion_product_categories(str(tmp_path), min_photos=1)
    assert master.name == "fashion_products"
    assert master.category_names == ("Apparel", "Footwear", "Accessories")
    assert master.counts().tolist() == [3, 2, 1]
    assert master.item_ids.tolist() == ["1001", "1002", "1003", "1004", "1005", "1006"]
    assert master.item_names[3] == "Puma Men, Black, Sneakers"
    assert all(path.endswith(f"images{os.sep}{item}.jpg")
               for item, path in zip(master.item_ids, master.image_paths))
    sub = load_fashion_product_categories(str(tmp_path), column="subCategory", min_photos=2)
    assert sub.category_names == ("Shoes", "Topwear")
    assert sub.dropped_categories == (("Bottomwear", 1), ("Watches", 1))
    assert "fewer than 2 photos" in capsys.readouterr().out
    article = load_fashion_product_categories(str(tmp_path), column="articleType",
                                              min_photos=1, top=2)
    # Casual Shoes has 2 photos; the four singles tie and Jeans comes first by name.
    assert article.category_names == ("Casual Shoes", "Jeans")
    assert article.item_ids.tolist() == ["1003", "1004", "1005"]
    assert article.categories.tolist() == [1, 0, 0]
    part = article.subset([2, 0])
    assert part.item_ids.tolist() == ["1005", "1003"] and part.counts().tolist() == [1, 1]
    assert part.category_names == article.category_names
    assert article.subset(article.categories == 0).counts().tolist() == [2, 0]


def test_fashion_product_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="Fashion Product Images folder"):
        load_fashion_product_categories(str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="styles.csv"):
        load_fashion_product_categories(str(tmp_path))
    write_styles(str(tmp_path))
    with pytest.raises(ValueError, match="unknown .* 'colour'; the known ones are "
                                         "masterCategory, subCategory, articleType"):
        load_fashion_product_categories(str(tmp_path), column="colour")
    with pytest.raises(ValueError, match="no masterCategory group .* 20 photos"):
        load_fashion_product_categories(str(tmp_path))  # min_photos=20 by default
    with pytest.raises(FileNotFoundError, match="image folder"):
        load_fashion_product_categories(str(tmp_path), min_photos=1,
                                        images_dir=str(tmp_path / "none"))
    (tmp_path / "styles.csv").write_text("style,masterCategory\n1,Apparel\n")
    with pytest.raises(ValueError, match="no id column"):
        load_fashion_product_categories(str(tmp_path))
    (tmp_path / "styles.csv").write_text("id,gender\n1001,Men\n")
    with pytest.raises(ValueError, match="has no column masterCategory; it has id, gender"):
        load_fashion_product_categories(str(tmp_path))


def _asymmetric_images(count, size=8):
    """Image i: its left half is i * 10, its right half 255 — no image is its own mirror."""
    images = np.full((count, size, size, 3), 255, np.uint8)
    images[:, :, :size // 2] = (np.arange(count, dtype=np.uint8) * 10)[:, None, None, None]
    return images


def test_category_dataset_range_shapes_and_mirrored_flips():
    images, categories = _asymmetric_images(10), np.arange(10) % 3
    dataset = category_dataset(images, categories, batch_size=4, seed=1)
    assert dataset.element_spec["image"].shape == (4, 8, 8, 3)
    assert dataset.element_spec["image"].dtype == tf.float32
    assert dataset.element_spec["category"].shape == (4,)
    assert dataset.element_spec["category"].dtype == tf.int32
    normalised = images.astype(np.float32) / 127.5 - 1
    flipped = seen = 0
    for batch in dataset.take(25):  # 10 passes: endless, and batches never come short
        image, category = batch["image"].numpy(), batch["category"].numpy()
        assert image.min() >= -1 and image.max() <= 1
        for one, label in zip(image, category):
            item = int(round((one[0, 0, 0] + 1) * 127.5 / 10)) if one[0, 0, 0] < 0.99 else \
                int(round((one[0, -1, 0] + 1) * 127.5 / 10))
            assert label == categories[item]
            if np.allclose(one, normalised[item], atol=1e-6):
                seen += 1
            else:
                np.testing.assert_allclose(one, normalised[item][:, ::-1], atol=1e-6)
                flipped += 1
    assert flipped > 20 and seen > 20
    one, two = (category_dataset(images, categories, batch_size=4, seed=2) for _ in range(2))
    for first, second in zip(one.take(5), two.take(5)):  # the same seed, the same batches
        np.testing.assert_array_equal(first["image"], second["image"])
        np.testing.assert_array_equal(first["category"], second["category"])


def test_category_dataset_shuffles_every_photo_and_can_keep_them_unflipped():
    images, categories = _asymmetric_images(12), np.arange(12)
    batches = list(category_dataset(images, categories, 3, seed=0, flip=False).take(8))
    normalised = images.astype(np.float32) / 127.5 - 1
    first_pass = np.concatenate([batch["category"].numpy() for batch in batches[:4]])
    assert sorted(first_pass) == list(range(12)) and first_pass.tolist() != list(range(12))
    for batch in batches:
        np.testing.assert_allclose(batch["image"], normalised[batch["category"].numpy()],
                                   atol=1e-6)
    second_pass = np.concatenate([batch["category"].numpy() for batch in batches[4:]])
    assert second_pass.tolist() != first_pass.tolist()  # reshuffled each pass


def test_category_dataset_checks_its_inputs():
    images = _asymmetric_images(4)
    with pytest.raises(ValueError, match="uint8"):
        category_dataset(images.astype(np.float32), np.zeros(4, int), 2, 0)
    with pytest.raises(ValueError, match="categories must be"):
        category_dataset(images, np.zeros(3, int), 2, 0)
    with pytest.raises(ValueError, match="batch_size 5"):
        category_dataset(images, np.zeros(4, int), 5, 0)


@needs_shared_data
def test_hm_product_groups_on_shared_data():
    photos = load_hm_categories(HM)
    counts = dict(zip(photos.category_names, photos.counts().tolist()))
    print(counts)
    assert counts == {"Garment Upper body": 1518, "Garment Lower body": 915,
                      "Garment Full body": 476, "Underwear": 349, "Accessories": 298,
                      "Swimwear": 284}
    assert photos.dropped_categories[0] == ("Socks & Tights", 131)
    assert sum(count for _, count in photos.dropped_categories) + len(photos) == 4116
    images = load_images(photos.image_paths[:8], 64)
    assert images.shape == (8, 64, 64, 3) and images.dtype == np.uint8
    batch = next(iter(category_dataset(images, photos.categories[:8], 8, seed=0)))
    assert -1 <= batch["image"].numpy().min() and batch["image"].numpy().max() <= 1


@needs_shared_data
@needs_fashion_products
def test_fashion_product_categories_on_shared_data():
    master = load_fashion_product_categories(FASHION_PRODUCTS, min_photos=1)
    counts = dict(zip(master.category_names, master.counts().tolist()))
    print(counts)
    assert len(master) == 9583  # every photo of the README
    assert counts == {"Apparel": 5353, "Footwear": 2122, "Accessories": 2059,
                      "Personal Care": 41, "Free Items": 7, "Sporting Goods": 1}
    assert load_fashion_product_categories(FASHION_PRODUCTS).category_names == (
        "Apparel", "Footwear", "Accessories", "Personal Care")
    sub = load_fashion_product_categories(FASHION_PRODUCTS, column="subCategory")
    counts = dict(zip(sub.category_names, sub.counts().tolist()))
    print(counts)
    assert len(counts) == 20 and len(sub) == 9535 and min(counts.values()) == 20
    assert list(counts.items())[:3] == [("Topwear", 4423), ("Shoes", 1648), ("Bottomwear", 634)]
    assert len(load_fashion_product_categories(FASHION_PRODUCTS, column="articleType",
                                               min_photos=1).category_names) == 75
