import os

import numpy as np
import pytest

from support.data_paths import HM, needs_shared_data
from tfgrad.data.hm import load_hm


def write_hm(folder, articles, purchases):
    os.makedirs(folder, exist_ok=True)
    header = "article_id,prod_name,colour_group_name,graphical_appearance_name\n"
    with open(os.path.join(folder, "articles.csv"), "w") as f:
        f.write(header + "".join(f"{a},{n},{c},{p}\n" for a, n, c, p in articles))
    with open(os.path.join(folder, "transactions_train.csv"), "w") as f:
        f.write("t_dat,customer_id,article_id,price,sales_channel_id\n" + "".join(
            f"2020-01-01,{c},{a},0.1,1\n" for c, a in purchases))


def test_tags_from_columns_and_protocol(tmp_path):
    articles = [("0001", "Tee", "Black", "Solid"), ("0002", "Tee", "White", "Solid"),
                ("0003", "Top", "Black", "Stripe"), ("0004", "Top", "White", "Stripe"),
                ("0005", "Odd", "Rare", "Solid")]
    purchases = [("a", f"000{i}") for i in range(1, 6)] + [("b", "0001")] * 7 \
        + [("a", "9999")]  # an unlisted article is ignored
    write_hm(str(tmp_path), articles, purchases)
    catalogue = load_hm(str(tmp_path), ("colour_group_name", "graphical_appearance_name"),
                        min_user_interactions=5, min_tag_items=2)
    # Customer b bought one distinct article: dropped.
    assert catalogue.num_users == 1
    assert catalogue.item_ids.tolist() == ["0001", "0002", "0003", "0004", "0005"]
    assert catalogue.attributes == ("black", "white", "solid", "stripe")
    assert catalogue.attribute_columns.tolist() == [0, 0, 1, 1]
    np.testing.assert_array_equal(catalogue.item_attributes[4], [0, 0, 1, 0])  # "rare" dropped
    assert catalogue.relevance is None


def test_missing_file_and_column(tmp_path):
    with pytest.raises(FileNotFoundError, match="articles.csv"):
        load_hm(str(tmp_path))
    write_hm(str(tmp_path), [("0001", "Tee", "Black", "Solid")], [("a", "0001")])
    with pytest.raises(ValueError, match="no column"):
        load_hm(str(tmp_path), ("no_such_column",))


@needs_shared_data
def test_shared_hm_sample():
    catalogue = load_hm(HM)
    assert 3000 < catalogue.num_items < 5000
    assert catalogue.num_users > 400
    # At most one tag per column, and most articles have one in every column.
    for column in range(4):
        in_column = catalogue.item_attributes[:, catalogue.attribute_columns == column]
        assert in_column.sum(axis=1).max() == 1
        assert in_column.sum(axis=1).mean() > 0.95


def test_photos_reach_the_items_table_of_a_walk_export(tmp_path):
    from PIL import Image

    from tfgrad.spaces import LinearMove
    from tfgrad.systems.cgir import catalogue_space

    articles = [(f"010000{k}", "Tee", colour, "Solid")
                for k, colour in enumerate(["Black", "White", "Black", "White", "Black"])]
    write_hm(str(tmp_path), articles, [("a", a[0]) for a in articles])
    os.makedirs(tmp_path / "images" / "010")
    for article in ("0100000", "0100003"):
        Image.new("RGB", (4, 6), "red").save(tmp_path / "images" / "010" / f"{article}.jpg")
    catalogue = load_hm(str(tmp_path), ("colour_group_name",), min_user_interactions=5)
    photo = str(tmp_path / "images" / "010" / "{}.jpg")
    expected = [photo.format("0100000"), "", "", photo.format("0100003"), ""]
    assert catalogue.image_paths.tolist() == expected
    space = catalogue_space(catalogue, np.zeros((5, 2)), LinearMove(np.zeros((2, 2))))
    assert space.items_table()["image"].tolist() == expected
    # Without an images folder there is no photo column at all.
    os.rename(tmp_path / "images", tmp_path / "elsewhere")
    assert load_hm(str(tmp_path), ("colour_group_name",)).image_paths is None
