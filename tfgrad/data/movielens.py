"""MovieLens in its public layouts, as a `Catalogue` (CGIR.md, "Data": the MovieLens protocol).

Ratings: `ratings.csv` (ml-latest, ml-latest-small, ml-20m, ml-25m), `ratings.dat` (ml-1m,
ml-10m, "::"-separated) or `u.data` (ml-100k, tab-separated). Titles: `movies.csv`,
`movies.dat` or ml-100k's `u.item`. Tags: `tags.csv` / `tags.dat`. Tag genome:
`genome-scores.csv` and `genome-tags.csv`, in the ratings folder (ml-20m, ml-25m) or a folder of
their own (`genome_dir`).

Protocol (as MacridVAE / CGIR): ratings ≥ 4 are interactions; users with fewer than 5 of them
are dropped; items are the movies left with an interaction. User tags are cleaned (lower case,
single spaces) and kept if they are in the genome's tag table; an item's attributes are its kept
tags; tags on fewer than `min_tag_items` items are dropped. Relevance(i, t) is the genome score,
NaN for movies the genome does not cover.
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np
import pandas as pd

from tfgrad.data.catalogue import Catalogue, index_interactions

_RATINGS_LAYOUTS = (
    # (file, read function)
    ("ratings.csv", lambda path: pd.read_csv(path, usecols=["userId", "movieId", "rating"])),
    ("ratings.dat", lambda path: pd.read_csv(path, sep="::", engine="python", header=None,
                                             names=["userId", "movieId", "rating", "timestamp"])),
    ("u.data", lambda path: pd.read_csv(path, sep="\t", header=None,
                                        names=["userId", "movieId", "rating", "timestamp"])),
)


def _find(directory: str, names: tuple[str, ...]) -> Optional[str]:
    for name in names:
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    return None


def read_ratings(directory: str) -> pd.DataFrame:
    """[userId, movieId, rating] from whichever public layout `directory` holds."""
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"MovieLens folder {directory!r} does not exist")
    for name, read in _RATINGS_LAYOUTS:
        path = os.path.join(directory, name)
        if os.path.exists(path):
            try:
                ratings = read(path)[["userId", "movieId", "rating"]]
            except (ValueError, KeyError, pd.errors.ParserError) as error:
                raise ValueError(f"{path!r} is not a MovieLens ratings file: {error}") from None
            if ratings.empty:
                raise ValueError(f"{path!r} holds no ratings")
            return ratings
    raise FileNotFoundError(
        f"no MovieLens ratings in {directory!r}: expected one of "
        f"{', '.join(name for name, _ in _RATINGS_LAYOUTS)}")


def read_titles(directory: str) -> dict[int, str]:
    """movieId -> title, or {} when the folder has no titles file."""
    path = _find(directory, ("movies.csv", "movies.dat", "u.item"))
    if path is None:
        return {}
    if path.endswith(".csv"):
        movies = pd.read_csv(path, usecols=["movieId", "title"])
    else:
        movies = pd.read_csv(path, sep="::" if path.endswith(".dat") else "|", header=None,
                             engine="python", encoding="latin-1", usecols=[0, 1],
                             names=["movieId", "title"])
    return dict(zip(movies.movieId.astype(int), movies.title.astype(str)))


def clean_tag(tag) -> str:
    """User tags are free text: lower case, trimmed, inner whitespace collapsed."""
    return " ".join(str(tag).lower().split())


def read_tags(directory: str) -> pd.DataFrame:
    """[movieId, tag] cleaned user tag applications, or an empty frame without a tags file."""
    path = _find(directory, ("tags.csv", "tags.dat"))
    if path is None:
        return pd.DataFrame({"movieId": pd.Series(dtype=int), "tag": pd.Series(dtype=str)})
    if path.endswith(".csv"):
        tags = pd.read_csv(path, usecols=["movieId", "tag"])
    else:
        tags = pd.read_csv(path, sep="::", engine="python", header=None, usecols=[1, 2],
                           names=["movieId", "tag"])
    tags = tags.dropna()
    return pd.DataFrame({"movieId": tags.movieId.astype(int), "tag": tags.tag.map(clean_tag)})


def read_genome(directory: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(genome tags [tagId, tag], genome scores [movieId, tagId, relevance])."""
    tags_path = os.path.join(directory, "genome-tags.csv")
    scores_path = os.path.join(directory, "genome-scores.csv")
    for path in (tags_path, scores_path):
        if not os.path.exists(path):
            raise FileNotFoundError(f"tag genome file {path!r} is missing")
    tags = pd.read_csv(tags_path)
    scores = pd.read_csv(scores_path)
    for frame, path, columns in ((tags, tags_path, {"tagId", "tag"}),
                                 (scores, scores_path, {"movieId", "tagId", "relevance"})):
        if not columns <= set(frame.columns):
            raise ValueError(f"{path!r} needs columns {sorted(columns)}, has "
                             f"{list(frame.columns)}")
    tags = tags.assign(tag=tags.tag.map(clean_tag))
    return tags, scores


def load_movielens(directory: str, genome_dir: Optional[str] = None, min_rating: float = 4.0,
                   min_user_interactions: int = 5, min_tag_items: int = 2,
                   name: str = "movielens") -> Catalogue:
    """Reads a MovieLens download into a `Catalogue`.

    Args:
      directory: the folder of ratings (and titles, tags).
      genome_dir: the tag genome's folder; None looks in `directory`. Without a genome, tags
        are not filtered and there is no graded relevance.
      min_rating: ratings at or above this are interactions.
      min_user_interactions: users with fewer interactions are dropped.
      min_tag_items: tags applied to fewer catalogue items are dropped.
      name: the catalogue's name.
    """
    ratings = read_ratings(directory)
    ratings = ratings[ratings.rating >= min_rating]
    user_ids, movie_ids, interactions = index_interactions(
        ratings.userId, ratings.movieId, min_user_interactions)
    if not len(interactions):
        raise ValueError(f"no user in {directory!r} has {min_user_interactions} ratings "
                         f">= {min_rating}")
    item_of = pd.Series(np.arange(len(movie_ids)), index=movie_ids)

    genome_dir = genome_dir or directory
    has_genome = os.path.exists(os.path.join(genome_dir, "genome-tags.csv"))
    tags = read_tags(directory)
    tags = tags[tags.movieId.isin(item_of.index)]
    if has_genome:
        genome_tags, genome_scores = read_genome(genome_dir)
        tags = tags[tags.tag.isin(set(genome_tags.tag))]
    tags = tags.drop_duplicates()
    tag_counts = tags.tag.value_counts()
    attributes = tuple(sorted(tag_counts.index[tag_counts >= min_tag_items]))
    tags = tags[tags.tag.isin(attributes)]
    attribute_of = pd.Series(np.arange(len(attributes)), index=list(attributes), dtype=np.int64)
    item_attributes = np.zeros((len(movie_ids), len(attributes)), dtype=np.float32)
    item_attributes[item_of[tags.movieId].to_numpy(), attribute_of[tags.tag].to_numpy()] = 1.0

    relevance = None
    if has_genome:
        tag_id_of = dict(zip(genome_tags.tag, genome_tags.tagId))
        scores = genome_scores[genome_scores.movieId.isin(item_of.index)]
        scores = scores.pivot(index="movieId", columns="tagId", values="relevance")
        relevance = np.full(item_attributes.shape, np.nan, dtype=np.float32)
        columns = [tag_id_of[attribute] for attribute in attributes]
        present = [column in scores.columns for column in columns]
        if len(scores) and any(present):
            rows = item_of[scores.index].to_numpy()
            block = scores.reindex(columns=columns).to_numpy(dtype=np.float32)
            relevance[rows] = block

    titles = read_titles(directory)
    return Catalogue(
        name=name,
        item_ids=np.array([str(movie) for movie in movie_ids]),
        item_names=np.array([titles.get(int(movie), f"movie {movie}") for movie in movie_ids]),
        attributes=attributes,
        item_attributes=item_attributes,
        interactions=interactions,
        num_users=len(user_ids),
        relevance=relevance,
    )
