"""Photos on disk, the image pipeline, purchases with photos and their split, the BPR triples
pipeline and user-supplied visual features: written files in each layout, and ../shared/data."""

import os

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from support.data_paths import HM, needs_shared_data
from support.photo_catalogue import write_photo_shop
from tfgrad.data.images import find_images, load_images
from tfgrad.data.pipelines import bpr_triples_dataset
from tfgrad.data.purchases import (load_hm_purchases, load_interaction_purchases,
                                   split_leave_two_out)
from tfgrad.systems.dvbpr import read_visual_features


def _write_jpeg(path, colour=(10, 200, 30), size=(30, 20)):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pixels = np.broadcast_to(np.array(colour, np.uint8), (*size, 3)).copy()
    tf.io.write_file(path, tf.io.encode_jpeg(pixels))


def test_find_images_reads_the_hm_class_and_flat_layouts(tmp_path):
    _write_jpeg(str(tmp_path / "hm" / "010" / "0108775015.jpg"))
    _write_jpeg(str(tmp_path / "hm" / "011" / "0111586001.jpg"))
    hm = find_images(str(tmp_path / "hm"))
    assert sorted(hm.paths) == ["0108775015", "0111586001"] and hm.classes == {}
    _write_jpeg(str(tmp_path / "shop" / "dress" / "a1.jpg"))
    _write_jpeg(str(tmp_path / "shop" / "shirt" / "b2.png"))
    shop = find_images(str(tmp_path / "shop"))
    assert shop.classes == {"a1": "dress", "b2": "shirt"}
    _write_jpeg(str(tmp_path / "flat" / "x.jpg"))
    (tmp_path / "flat" / "notes.txt").write_text("not a photo")
    flat = find_images(str(tmp_path / "flat"))
    assert list(flat.paths) == ["x"] and flat.classes == {}
    has_image, paths = flat.match(["x", "y"])
    assert has_image.tolist() == [True, False] and paths[1] == ""


def test_find_images_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_images(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no .jpg"):
        find_images(str(tmp_path / "empty"))
    _write_jpeg(str(tmp_path / "twice" / "a" / "item.jpg"))
    _write_jpeg(str(tmp_path / "twice" / "b" / "item.jpg"))
    with pytest.raises(ValueError, match="two photos for item 'item'"):
        find_images(str(tmp_path / "twice"))


def test_load_images_resizes_with_white_padding_and_caches(tmp_path):
    path = str(tmp_path / "tall.jpg")
    _write_jpeg(path, colour=(0, 0, 0), size=(40, 20))  # portrait: padded left and right
    cache = str(tmp_path / "cache" / "photos")
    images = load_images([path], 16, cache_path=cache)
    assert images.shape == (1, 16, 16, 3) and images.dtype == np.uint8
    assert images[0, 8, 0].min() > 240 and images[0, 8, 8].max() < 20
    assert any(name.startswith("photos") for name in os.listdir(tmp_path / "cache"))
    np.testing.assert_array_equal(load_images([path], 16, cache_path=cache), images)
    with pytest.raises(FileNotFoundError, match="missing"):
        load_images([str(tmp_path / "gone.jpg")], 16)


def test_split_holds_out_one_validation_and_one_test_item_per_user():
    rng = np.random.default_rng(0)
    pairs = np.array(sorted({(u, i) for u in range(30) for i in rng.choice(50, 6, False)}))
    train, validation, test = split_leave_two_out(pairs, 30, seed=3)
    assert len(validation) == len(test) == 30 and len(train) == len(pairs) - 60
    for user in range(30):
        bought = set(pairs[pairs[:, 0] == user, 1])
        kept = set(train[train[:, 0] == user, 1])
        assert validation[user] != test[user]
        assert kept | {validation[user], test[user]} == bought
        assert validation[user] not in kept and test[user] not in kept
    again = split_leave_two_out(pairs, 30, seed=3)
    np.testing.assert_array_equal(again[2], test)
    with pytest.raises(ValueError, match="fewer than 3"):
        split_leave_two_out(np.array([[0, 1], [0, 2]]), 1, 0)


def test_interaction_purchases_from_a_class_folder_shop(tmp_path, capsys):
    images_dir, interactions = write_photo_shop(str(tmp_path))
    rows = pd.read_csv(interactions)
    pd.concat([rows, pd.DataFrame({"user_id": ["u000"], "item_id": ["no_photo"]})]).to_csv(
        interactions, index=False)
    purchases = load_interaction_purchases(interactions, images_dir)
    assert "no_photo" in capsys.readouterr().out
    assert purchases.items_without_image == ("no_photo",)
    assert purchases.num_users == 90 and purchases.num_items == 48
    assert set(purchases.label_names) == {"red", "green", "blue", "yellow"}
    assert (purchases.labels >= 0).all()
    assert len(purchases.train) == 90 * 8 - 2 * 90
    assert len(load_interaction_purchases(interactions, images_dir, max_users=10).user_ids) == 10
    with pytest.raises(FileNotFoundError, match="interactions file"):
        load_interaction_purchases(str(tmp_path / "none.csv"), images_dir)
    rows.rename(columns={"item_id": "sku"}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="no column"):
        load_interaction_purchases(str(tmp_path / "bad.csv"), images_dir)


@needs_shared_data
def test_hm_purchases_with_photos():
    purchases = load_hm_purchases(HM)
    # 4,116 articles have photos; customers with 5+ distinct photographed articles remain.
    assert purchases.num_users == 498 and purchases.num_items == 3867
    assert len(purchases.train) + 2 * purchases.num_users == 6401 + 2 * 498
    assert all(os.path.exists(path) for path in purchases.image_paths[:20])
    assert (purchases.labels >= 0).all() and len(purchases.label_names) > 20
    cold = purchases.is_cold(purchases.test)
    assert 0.5 < cold.mean() < 1.0
    assert len(find_images(os.path.join(HM, "images")).paths) == 4116


def test_bpr_triples_never_sample_a_bought_item():
    train = np.array([[0, i] for i in range(8)] + [[1, 0], [1, 9]])
    batches = bpr_triples_dataset(train, 10, 32, seed=0, num_negatives=4,
                                  images=np.arange(10, dtype=np.uint8)[:, None, None, None]
                                  * np.ones((1, 2, 2, 3), np.uint8) * 25)
    drawn = {0: set(), 1: set()}
    for batch in batches.take(20):
        for user, negatives in zip(batch["user"].numpy(), batch["negatives"].numpy()):
            assert not set(negatives) & set(train[train[:, 0] == user, 1])
            drawn[user] |= set(negatives.tolist())
        np.testing.assert_array_equal(batch["negative"], batch["negatives"][:, 0])
        expected = np.asarray(batch["positive"], np.float32) * 25 / 127.5 - 1
        np.testing.assert_allclose(batch["positive_image"][:, 0, 0, 0], expected, rtol=1e-6)
    assert drawn == {0: {8, 9}, 1: set(range(1, 9))}


def test_bpr_triples_flip_photos_mirrors_about_half_and_repeats_per_seed():
    # Item i's photo is a left-right ramp offset by i, so a mirrored photo is told apart.
    ramp = np.arange(4, dtype=np.uint8)[None, None, :, None] * 10
    images = (np.arange(6, dtype=np.uint8)[:, None, None, None] * 50 + ramp
              ) * np.ones((1, 4, 4, 3), np.uint8)
    train = np.array([[0, 0], [0, 1], [1, 2], [1, 3]])

    def batches(flip):
        return list(bpr_triples_dataset(train, 6, 4, seed=3, images=images,
                                        flip_photos=flip).take(25))

    mirrored = []
    for batch in batches(True):
        for side in ("positive", "negative"):
            photos = batch[f"{side}_image"].numpy()
            straight = images[batch[side].numpy()].astype(np.float32) / 127.5 - 1
            flips = (np.all(np.isclose(photos, straight[:, :, ::-1]), axis=(1, 2, 3))
                     & ~np.all(np.isclose(photos, straight), axis=(1, 2, 3)))
            kept = np.all(np.isclose(photos, straight), axis=(1, 2, 3))
            assert (flips | kept).all()
            mirrored.extend(flips)
    assert 0.3 < np.mean(mirrored) < 0.7
    again = batches(True)
    for first, second in zip(batches(True), again):
        np.testing.assert_array_equal(first["negative_image"], second["negative_image"])
    for batch in batches(False):
        np.testing.assert_allclose(batch["positive_image"],
                                   images[batch["positive"].numpy()] / 127.5 - 1, atol=1e-6)


def test_read_visual_features_by_ids_or_order(tmp_path):
    features = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.save(tmp_path / "f.npy", features)
    (tmp_path / "ids.txt").write_text("c\na\nb\n")
    got = read_visual_features(str(tmp_path / "f.npy"), np.array(["a", "b"]),
                               str(tmp_path / "ids.txt"))
    np.testing.assert_array_equal(got, features[[1, 2]])
    np.testing.assert_array_equal(
        read_visual_features(str(tmp_path / "f.npy"), np.array(["a", "b", "c"])), features)
    with pytest.raises(ValueError, match="3 rows for 2 items"):
        read_visual_features(str(tmp_path / "f.npy"), np.array(["a", "b"]))
    with pytest.raises(ValueError, match="no visual features"):
        read_visual_features(str(tmp_path / "f.npy"), np.array(["z"]), str(tmp_path / "ids.txt"))
    with pytest.raises(FileNotFoundError, match="missing"):
        read_visual_features(str(tmp_path / "nope.npy"), np.array(["a"]))
    (tmp_path / "bad.npy").write_text("not numpy")
    with pytest.raises(ValueError, match="not a NumPy"):
        read_visual_features(str(tmp_path / "bad.npy"), np.array(["a"]))
