import os

import numpy as np
import pytest

from support.data_paths import GENOME_HEAD, ML_100K, ML_SMALL, needs_shared_data
from tfgrad.data.movielens import clean_tag, load_movielens, read_ratings


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


@pytest.fixture
def ml20m_layout(tmp_path):
    """A tiny ml-20m-style folder: ratings, movies, tags and the genome side by side."""
    folder = tmp_path / "ml-20m"
    # Users 1 and 2 have 5 ratings >= 4; user 3 has 4 (dropped); user 4 rates low.
    rows = ["userId,movieId,rating,timestamp"]
    for user in (1, 2):
        rows += [f"{user},{movie},4.5,0" for movie in (10, 20, 30, 40, 50)]
    rows += [f"3,{movie},5.0,0" for movie in (10, 20, 30, 60)]
    rows += [f"4,{movie},2.0,0" for movie in (10, 20, 30, 40, 50, 60)]
    write(str(folder / "ratings.csv"), "\n".join(rows) + "\n")
    write(str(folder / "movies.csv"), "movieId,title,genres\n10,Ten (1990),Drama\n"
          "20,\"Twenty, The (1991)\",Comedy\n30,Thirty (1992),Drama\n40,Forty (1993),Drama\n"
          "50,Fifty (1994),Drama\n60,Sixty (1995),Drama\n")
    write(str(folder / "tags.csv"), "userId,movieId,tag,timestamp\n"
          "1,10,Dark  Comedy,0\n1,20,dark comedy,0\n2,20,  funny ,0\n2,30,Funny,0\n"
          "2,40,not a genome tag,0\n1,50,not a genome tag,0\n1,50,surreal,0\n3,60,funny,0\n")
    write(str(folder / "genome-tags.csv"), "tagId,tag\n1,dark comedy\n2,funny\n3,surreal\n")
    scores = ["movieId,tagId,relevance"]
    for movie in (10, 20, 30):
        scores += [f"{movie},{tag},{(movie + tag) / 100:.2f}" for tag in (1, 2, 3)]
    write(str(folder / "genome-scores.csv"), "\n".join(scores) + "\n")
    return str(folder)


def test_protocol_on_ml20m_layout(ml20m_layout):
    catalogue = load_movielens(ml20m_layout, min_tag_items=2)
    # Users 1 and 2 kept (5 ratings >= 4); items: the movies they rated.
    assert catalogue.num_users == 2
    assert catalogue.item_ids.tolist() == ["10", "20", "30", "40", "50"]
    assert catalogue.item_names[1] == "Twenty, The (1991)"
    # Cleaned tags in the genome table on >= 2 items; "surreal" (1 item) and non-genome dropped.
    assert catalogue.attributes == ("dark comedy", "funny")
    np.testing.assert_array_equal(catalogue.item_attributes,
                                  [[1, 0], [1, 1], [0, 1], [0, 0], [0, 0]])
    # Genome relevance for the movies it covers, NaN for the others.
    np.testing.assert_allclose(catalogue.relevance[:3], [[0.11, 0.12], [0.21, 0.22],
                                                        [0.31, 0.32]], atol=1e-6)
    assert np.isnan(catalogue.relevance[3:]).all()
    assert catalogue.graded_items().tolist() == [0, 1, 2]
    assert len(catalogue.interactions) == 10


def test_separate_genome_dir_and_min_tag_items(ml20m_layout, tmp_path):
    genome = tmp_path / "genome"
    os.makedirs(genome)
    for name in ("genome-tags.csv", "genome-scores.csv"):
        os.rename(os.path.join(ml20m_layout, name), genome / name)
    catalogue = load_movielens(ml20m_layout, genome_dir=str(genome), min_tag_items=1)
    assert catalogue.attributes == ("dark comedy", "funny", "surreal")
    # Without any genome, tags are not filtered and there is no relevance.
    plain = load_movielens(ml20m_layout, min_tag_items=1)
    assert "not a genome tag" in plain.attributes
    assert plain.relevance is None


def test_ml100k_and_ml1m_layouts(tmp_path):
    write(str(tmp_path / "100k" / "u.data"),
          "".join(f"{user}\t{item}\t5\t0\n" for user in (1, 2) for item in range(1, 6)))
    write(str(tmp_path / "100k" / "u.item"),
          "".join(f"{item}|Film {item} (1995)|01-Jan-1995||url|0\n" for item in range(1, 6)))
    catalogue = load_movielens(str(tmp_path / "100k"))
    assert catalogue.num_items == 5 and catalogue.num_users == 2
    assert catalogue.item_names[0] == "Film 1 (1995)"
    write(str(tmp_path / "1m" / "ratings.dat"),
          "".join(f"{user}::{item}::4::0\n" for user in (1, 2, 3) for item in range(1, 7)))
    assert load_movielens(str(tmp_path / "1m")).num_items == 6


def test_missing_and_corrupt_files_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_movielens(str(tmp_path / "nowhere"))
    os.makedirs(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="ratings.csv, ratings.dat, u.data"):
        read_ratings(str(tmp_path / "empty"))
    write(str(tmp_path / "bad" / "ratings.csv"), "a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a MovieLens ratings file"):
        load_movielens(str(tmp_path / "bad"))


def test_clean_tag():
    assert clean_tag("  Dark   Comedy ") == "dark comedy"


@needs_shared_data
def test_ml_latest_small_with_genome_head():
    catalogue = load_movielens(ML_SMALL, genome_dir=GENOME_HEAD)
    # ratings >= 4 of users with >= 5 of them (CGIR.md's protocol).
    assert catalogue.num_users == 603
    assert catalogue.num_items == 6298
    assert len(catalogue.interactions) == 48_562
    assert 300 < catalogue.num_attributes < 400
    # The genome head covers 136 of the catalogue's movies.
    assert len(catalogue.graded_items()) == 136
    graded = catalogue.relevance[catalogue.graded_items()]
    assert np.nanmin(graded) >= 0 and np.nanmax(graded) <= 1


@needs_shared_data
def test_ml100k_shared():
    catalogue = load_movielens(ML_100K)
    assert catalogue.num_users > 900 and catalogue.num_attributes == 0
