"""Evaluates walks and retrieval on held-out triples, beside chance and popularity rows.

HR@K and MRR rank the held-out target among all items for the γ = 1 query (reference excluded);
MGS walks from every held-out (reference, attribute, direction) query. CGIR.md: every MGS row
needs a chance row, since on small pools MGS can sit near chance for any model.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from tfgrad import metrics
from tfgrad.data.catalogue import Catalogue
from tfgrad.data.pipelines import attribute_weights
from tfgrad.data.triples import Triples
from tfgrad.retrieval.walk import Walker

METRIC_NAMES = ("hr@20", "hr@50", "mrr", "mgs", "mgs_c", "mgs_r", "ind")


def sample_queries(triples: Triples, max_queries: Optional[int], seed: int) -> Triples:
    """The distinct walk queries of `triples`, at most `max_queries` of them (seeded sample)."""
    queries = triples.walk_queries()
    if max_queries is not None and len(queries) > max_queries:
        rng = np.random.default_rng(seed)
        queries = queries.take(np.sort(rng.choice(len(queries), max_queries, replace=False)))
    return queries


def walk_relevance(catalogue: Catalogue, walk_items: np.ndarray) -> np.ndarray:
    """[P, N] walks -> [P, N, T] graded relevance of every attribute along every walk."""
    if catalogue.relevance is None:
        raise ValueError(
            f"catalogue {catalogue.name!r} has no graded relevance, which MGS needs")
    return catalogue.relevance[walk_items]


def ranking_metrics(scores: np.ndarray, triples: Triples) -> dict[str, float]:
    ranks = metrics.target_ranks(scores, triples.target, triples.reference)
    return {"hr@20": metrics.hit_rate(ranks, 20), "hr@50": metrics.hit_rate(ranks, 50),
            "mrr": metrics.mean_reciprocal_rank(ranks)}


def run_walks(walker: Walker, queries: Triples, num_attributes: int, steps: int,
              step_size: float, distinct: bool, batch_size: int = 512) -> np.ndarray:
    """[P, N] item indices of the walk of every query, in batches."""
    walks = []
    for start in range(0, len(queries), batch_size):
        batch = queries.take(np.arange(start, min(start + batch_size, len(queries))))
        weights = attribute_weights(batch.attribute, batch.direction, num_attributes)
        walks.append(walker.walk(batch.reference, weights, steps, step_size, distinct)
                     .items.numpy())
    return np.concatenate(walks)


def evaluate_walker(walker: Walker, catalogue: Catalogue, test_triples: Triples,
                    steps: int = 10, step_size: float = 0.1, distinct: bool = True,
                    max_queries: Optional[int] = None, seed: int = 0,
                    batch_size: int = 256) -> dict:
    """All of CGIR.md's metrics for one item space.

    Returns:
      {"hr@20", "hr@50", "mrr", "mgs", "mgs_c", "mgs_r", "ind"} floats, plus "walks" [P, N] and
      "queries" (the walked Triples) for pictures.
    """
    num_attributes = catalogue.num_attributes
    ranking = []
    for start in range(0, len(test_triples), batch_size):
        batch = test_triples.take(np.arange(start, min(start + batch_size, len(test_triples))))
        scores = walker.rank_scores(
            batch.reference, attribute_weights(batch.attribute, batch.direction, num_attributes))
        ranking.append(metrics.target_ranks(scores.numpy(), batch.target, batch.reference))
    ranks = np.concatenate(ranking)
    queries = sample_queries(test_triples, max_queries, seed)
    walks = run_walks(walker, queries, num_attributes, steps, step_size, distinct)
    gradual = metrics.gradual_scores(walk_relevance(catalogue, walks), queries.attribute,
                                     queries.direction)
    return {
        "hr@20": metrics.hit_rate(ranks, 20), "hr@50": metrics.hit_rate(ranks, 50),
        "mrr": metrics.mean_reciprocal_rank(ranks), **gradual,
        "ind": metrics.independence_level(walker.item_vectors.numpy()),
        "walks": walks, "queries": queries,
    }


def random_baseline(catalogue: Catalogue, test_triples: Triples, steps: int = 10,
                    max_queries: Optional[int] = None, seed: int = 0) -> dict:
    """Chance: uniformly random scores for ranking, random distinct items (never the reference)
    as walks, over the same queries as `evaluate_walker`."""
    rng = np.random.default_rng(seed + 1)
    ranking = ranking_metrics(rng.random((len(test_triples), catalogue.num_items)), test_triples)
    queries = sample_queries(test_triples, max_queries, seed)
    # Random keys with the reference pushed last: the first N of the argsort are N distinct
    # random items other than the reference.
    keys = rng.random((len(queries), catalogue.num_items))
    keys[np.arange(len(queries)), queries.reference] = 2.0
    walks = np.argsort(keys, axis=1)[:, :steps]
    gradual = metrics.gradual_scores(walk_relevance(catalogue, walks), queries.attribute,
                                     queries.direction)
    return {**ranking, **gradual, "ind": float("nan")}


def popularity_baseline(catalogue: Catalogue, test_triples: Triples) -> dict:
    """Ranks every query's candidates by training popularity (the non-personalised reference
    point for HR@K / MRR; it has no walk)."""
    popularity = catalogue.item_popularity().astype(np.float64)
    # A tiny seeded jitter breaks popularity ties at random instead of pessimistically.
    popularity = popularity + np.random.default_rng(0).random(len(popularity)) * 1e-3
    scores = np.broadcast_to(popularity, (len(test_triples), len(popularity)))
    return {**ranking_metrics(scores, test_triples),
            **{name: float("nan") for name in ("mgs", "mgs_c", "mgs_r", "ind")}}


def format_table(rows: dict[str, dict]) -> str:
    """A Markdown table of `rows` (model name -> metrics), NaN shown as '–'."""
    header = "| model | " + " | ".join(name.upper() for name in METRIC_NAMES) + " |"
    lines = [header, "|---" * (len(METRIC_NAMES) + 1) + "|"]
    for model, values in rows.items():
        cells = ["–" if np.isnan(values[name]) else f"{values[name]:.4f}"
                 for name in METRIC_NAMES]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
