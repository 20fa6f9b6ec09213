"""Labelled catalogues for visual KNN: class folders (CIFAR-10's layout) and categorised
product photos split by item."""

import os

import numpy as np
import pytest
import tensorflow as tf

from support.data_paths import CIFAR_10, FASHION_PRODUCTS, needs_shared_data
from tfgrad.data.categories import load_fashion_product_categories
from tfgrad.data.labelled_images import (_class_folder_files, load_class_folders,
                                         split_categorised)


def _write(path, colour, size=8):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    image = np.full((size, size, 3), colour, np.uint8)
    tf.io.write_file(path, tf.io.encode_png(image))


def test_class_folders_give_both_splits_with_ids_labels_and_pixels(tmp_path):
    for split, count in (("train", 3), ("test", 1)):
        for name, colour in (("cat", 10), ("dog", 200)):
            for index in range(count):
                _write(str(tmp_path / split / name / f"{index:04d}.png"), colour)
    splits = load_class_folders(str(tmp_path), image_size=8)
    assert splits.class_names == ("cat", "dog")
    assert list(splits.train.labels) == [0, 0, 0, 1, 1, 1]
    assert splits.test.item_ids.tolist() == ["test/cat/0000", "test/dog/0000"]
    assert splits.train.images.shape == (6, 8, 8, 3)
    assert splits.test.images[1].min() == 200


def test_class_folders_name_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_class_folders(str(tmp_path / "nope"))
    (tmp_path / "train" / "cat").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no class folder"):
        load_class_folders(str(tmp_path))
    _write(str(tmp_path / "train" / "cat" / "0.png"), 1)
    _write(str(tmp_path / "test" / "bird" / "0.png"), 1)
    with pytest.raises(ValueError, match="bird"):
        load_class_folders(str(tmp_path), image_size=8)


def test_categorised_photos_split_by_item_with_a_seed(tmp_path):
    photos_dir = tmp_path / "images"
    rows = []
    for index in range(10):
        _write(str(photos_dir / f"{index}.png"), index * 20)
        rows.append(f"{index},{'Men' if index % 2 else 'Women'},Apparel,Topwear,"
                    f"{'Tshirts' if index < 6 else 'Shirts'},Blue,Summer,2012,Casual,item {index}")
    (tmp_path / "styles.csv").write_text(
        "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,"
        "productDisplayName\n" + "\n".join(rows) + "\n")
    photos = load_fashion_product_categories(str(tmp_path), "articleType", min_photos=1)
    first = split_categorised(photos, 8, 0.3, seed=0)
    again = split_categorised(photos, 8, 0.3, seed=0)
    assert len(first.train) == 7 and len(first.test) == 3
    assert not set(first.train.item_ids) & set(first.test.item_ids)
    np.testing.assert_array_equal(first.test.item_ids, again.test.item_ids)
    for split in (first.train, first.test):
        for item, label, image in zip(split.item_ids, split.labels, split.images):
            assert photos.category_names[label] == ("Tshirts" if int(item) < 6 else "Shirts")
            assert image.min() == int(item) * 20
    with pytest.raises(ValueError, match="test_fraction"):
        split_categorised(photos, 8, 1.0, seed=0)


@needs_shared_data
def test_the_real_cifar_10_layout():
    files = _class_folder_files(os.path.join(CIFAR_10, "test"))
    assert len(files) == 10_000
    assert sorted({name for name, _ in files})[:2] == ["airplane", "automobile"]


@needs_shared_data
def test_the_real_fashion_products_by_article_type():
    photos = load_fashion_product_categories(FASHION_PRODUCTS, "articleType", min_photos=20)
    splits = split_categorised(photos, 64, 0.2, seed=0)
    assert len(splits.train) + len(splits.test) == len(photos) > 9000
    assert splits.train.images.shape[1:] == (64, 64, 3)
