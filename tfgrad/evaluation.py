"""Evaluates walks and retrieval on held-out triples, beside chance and popularity rows.

HR@K and MRR rank the held-out target among all items for the γ = 1 query (reference excluded);
MGS walks from every held-out (reference, attribute, direction) query. CGIR.md: every MGS row
needs a chance row, since on small pools MGS can sit near chance for any model.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from tfgrad import metrics
from tfgrad.data.catalogue import Catalogue
from tfgrad.data.pipelines import attribute_weights
from tfgrad.data.triples import Triples
from tfgrad.retrieval.walk import Walker, walk_strengths

# CGIR.md's MGS columns, then what they miss (`metrics.walk_shape_scores`): tie-neutral
# restrictiveness, the others' drift from the reference and jitter step to step, unevenness.
WALK_COLUMNS = ("mgs", "mgs_c", "mgs_r", "mgs_r_tn", "drift", "jitter", "uneven")
METRIC_NAMES = ("hr@20", "hr@50", "mrr", *WALK_COLUMNS, "ind")


def sample_queries(triples: Triples, max_queries: Optional[int], seed: int) -> Triples:
    """The distinct walk queries of `triples`, at most `max_queries` of them (seeded sample)."""
    queries = triples.walk_queries()
    if max_queries is not None and len(queries) > max_queries:
        rng = np.random.default_rng(seed)
        queries = queries.take(np.sort(rng.choice(len(queries), max_queries, replace=False)))
    return queries


def validation_queries(train_triples: Triples, test_triples: Triples,
                       max_queries: Optional[int], seed: int) -> Triples:
    """Walk queries for choosing settings: the training triples' distinct queries that are
    not test queries (same reference, attribute and direction), at most `max_queries`."""
    test = {tuple(key) for key in np.stack([test_triples.reference, test_triples.attribute,
                                            test_triples.direction], axis=1).tolist()}
    queries = train_triples.walk_queries()
    keys = np.stack([queries.reference, queries.attribute, queries.direction], axis=1)
    queries = queries.take(np.flatnonzero([tuple(key) not in test for key in keys.tolist()]))
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


def with_references(walks: np.ndarray, references: np.ndarray) -> np.ndarray:
    """[P, N] walks, [P] references -> [P, N + 1] items, the reference first."""
    return np.concatenate([np.asarray(references)[:, None], walks], axis=1)


def walk_scores(relevance: np.ndarray, queries: Triples) -> dict[str, float]:
    """Every walk column (`WALK_COLUMNS`) of walks whose relevance [P, N + 1, T] starts with
    the reference: MGS over the N walked items (CGIR.md), the shape columns from the
    reference on. NaN marks unknown relevance (human judgments)."""
    gradual = metrics.gradual_scores_with_missing(relevance[:, 1:], queries.attribute,
                                                  queries.direction)
    return {**gradual, **metrics.walk_shape_scores(relevance, queries.attribute,
                                                   queries.direction)}


def ranking_metrics(scores: np.ndarray, triples: Triples) -> dict[str, float]:
    ranks = metrics.target_ranks(scores, triples.target, triples.reference)
    return {"hr@20": metrics.hit_rate(ranks, 20), "hr@50": metrics.hit_rate(ranks, 50),
            "mrr": metrics.mean_reciprocal_rank(ranks)}


def run_walks(walker: Walker, queries: Triples, num_attributes: int, steps: int,
              step_size: float, distinct: bool, decoding: str = "greedy",
              batch_size: int = 512) -> np.ndarray:
    """[P, N] item indices of the walk of every query, in batches."""
    walks = []
    for start in range(0, len(queries), batch_size):
        batch = queries.take(np.arange(start, min(start + batch_size, len(queries))))
        weights = attribute_weights(batch.attribute, batch.direction, num_attributes)
        walks.append(walker.walk(batch.reference, weights, steps, step_size, distinct,
                                 decoding).items.numpy())
    return np.concatenate(walks)


def evaluate_walker(walker: Walker, catalogue: Catalogue, test_triples: Triples,
                    steps: int = 10, step_size: float = 0.1, distinct: bool = True,
                    max_queries: Optional[int] = None, seed: int = 0,
                    decodings: tuple[str, ...] = ("greedy",), batch_size: int = 256
                    ) -> dict[str, dict]:
    """All of CGIR.md's metrics (and the walk shape columns) for one item space, per decoding.

    Returns:
      {decoding: {"hr@20", "hr@50", "mrr", every `WALK_COLUMNS`, "ind"} floats, plus "walks"
      [P, N] and "queries" (the walked Triples) for pictures}; ranking and Ind do not depend
      on the decoding and are computed once.
    """
    queries = sample_queries(test_triples, max_queries, seed)
    shared = {**evaluate_ranking(walker, test_triples, catalogue.num_attributes, batch_size),
              "ind": metrics.independence_level(walker.item_vectors.numpy()), "queries": queries}
    results = {}
    for decoding in decodings:
        walks = run_walks(walker, queries, catalogue.num_attributes, steps, step_size, distinct,
                          decoding)
        results[decoding] = {**shared, "walks": walks, **walk_scores(
            walk_relevance(catalogue, with_references(walks, queries.reference)), queries)}
    return results


def evaluate_ranking(walker: Walker, test_triples: Triples, num_attributes: int,
                     batch_size: int = 256) -> dict[str, float]:
    """HR@20, HR@50 and MRR of the held-out targets among all the walker's items."""
    ranking = []
    for start in range(0, len(test_triples), batch_size):
        batch = test_triples.take(np.arange(start, min(start + batch_size, len(test_triples))))
        scores = walker.rank_scores(
            batch.reference, attribute_weights(batch.attribute, batch.direction, num_attributes))
        ranking.append(metrics.target_ranks(scores.numpy(), batch.target, batch.reference))
    ranks = np.concatenate(ranking)
    return {"hr@20": metrics.hit_rate(ranks, 20), "hr@50": metrics.hit_rate(ranks, 50),
            "mrr": metrics.mean_reciprocal_rank(ranks)}


def random_ranking(num_items: int, test_triples: Triples, rng: np.random.Generator
                   ) -> dict[str, float]:
    """HR@20, HR@50 and MRR of uniformly random scores (the chance row of ranking)."""
    return ranking_metrics(rng.random((len(test_triples), num_items)), test_triples)


def random_walks(num_items: int, references: np.ndarray, steps: int,
                 rng: np.random.Generator) -> np.ndarray:
    """[P, N] random distinct items, never the walk's reference (the chance walk)."""
    # Random keys with the reference pushed last: the first N of the argsort are N distinct
    # random items other than the reference.
    keys = rng.random((len(references), num_items))
    keys[np.arange(len(references)), references] = 2.0
    return np.argsort(keys, axis=1)[:, :steps]


def pool_walk_queries(relevance: np.ndarray, max_queries: Optional[int], seed: int) -> Triples:
    """Walk queries over a pool whose items all have (mostly) known relevance.

    Every (reference, attribute) with a known relevance is a query; its direction leaves the
    walk room to move: "more" when the reference is below the pool's median for that attribute,
    "less" otherwise. References are positions in the pool; `target` is -1 (walks need none).

    Args:
      relevance: [P_items, T] the pool's relevance, NaN where unknown.
      max_queries: at most this many (a seeded sample).
      seed: the sampling seed.
    """
    medians = np.nanmedian(relevance, axis=0)
    reference, attribute = np.nonzero(~np.isnan(relevance))
    direction = np.where(relevance[reference, attribute] < medians[attribute], 1, -1)
    queries = Triples(reference=reference.astype(np.int64),
                      target=np.full(len(reference), -1, dtype=np.int64),
                      attribute=attribute.astype(np.int64), direction=direction.astype(np.int64))
    if max_queries is not None and len(queries) > max_queries:
        rng = np.random.default_rng(seed)
        queries = queries.take(np.sort(rng.choice(len(queries), max_queries, replace=False)))
    return queries


def pool_gradual_scores(walker: Walker, pool_relevance: np.ndarray, queries: Triples,
                        steps: int, step_size: float, distinct: bool,
                        decoding: str = "greedy") -> dict:
    """The walk columns of the walks of `queries` over a pool walker ([P_items] item space),
    scored with the pool's relevance (NaN-aware). Returns the scores, "walks" (pool positions)
    and "queries"."""
    walks = run_walks(walker, queries, pool_relevance.shape[1], steps, step_size, distinct,
                      decoding)
    return {**walk_scores(pool_relevance[with_references(walks, queries.reference)], queries),
            "walks": walks, "queries": queries}


def pool_random_scores(pool_relevance: np.ndarray, queries: Triples, steps: int,
                       seed: int) -> dict:
    """The chance row of `pool_gradual_scores`: random distinct pool items as walks."""
    walks = random_walks(len(pool_relevance), queries.reference, steps,
                         np.random.default_rng(seed + 1))
    return {**walk_scores(pool_relevance[with_references(walks, queries.reference)], queries),
            "walks": walks}


def human_agreement(walks: np.ndarray, queries: Triples,
                    preferences: dict[tuple[int, int, int], float]) -> dict:
    """The share of walk steps whose order a direct human comparison confirms.

    For consecutive items (a, b) of a walk along attribute t with direction α, a step is judged
    when people compared a and b on t with a net vote v (b "more t" votes minus "less t"
    votes) ≠ 0; it agrees when α·v > 0.

    Args:
      walks: [P, N] item indices (the same indices as the preference keys).
      queries: the walks' Triples (attribute, direction).
      preferences: `soft_attributes.direct_preferences` keyed by those indices.

    Returns:
      {"agreement": share of judged steps that agree (NaN if none), "judged_steps": count,
       "steps": all steps}.
    """
    agree = judged = 0
    for walk, attribute, direction in zip(walks.tolist(), queries.attribute.tolist(),
                                          queries.direction.tolist()):
        for a, b in zip(walk[:-1], walk[1:]):
            vote = preferences.get((attribute, a, b), 0.0)
            if vote != 0.0:
                judged += 1
                agree += direction * vote > 0
    return {"agreement": agree / judged if judged else float("nan"), "judged_steps": judged,
            "steps": int(walks.shape[0] * (walks.shape[1] - 1))}


def retrieved_tag_share(walker: Walker, queries: Triples, item_attributes: np.ndarray,
                        steps: int, step_size: float, top_k: int = 100,
                        batch_size: int = 128) -> np.ndarray:
    """[P, N, T] relevance for binary tags (CGIR.md): at each step's γ, the share of the top
    `top_k` retrieved items (reference excluded) that have each tag."""
    num_attributes = item_attributes.shape[1]
    strengths = walk_strengths(steps, step_size)
    shares = []
    for start in range(0, len(queries), batch_size):
        batch = queries.take(np.arange(start, min(start + batch_size, len(queries))))
        composed = walker.queries(
            tf.constant(batch.reference, tf.int32),
            tf.constant(attribute_weights(batch.attribute, batch.direction, num_attributes)),
            strengths)
        _, items = walker.index.search(tf.reshape(composed, [-1, composed.shape[-1]]),
                                       top_k + 1)
        items = items.numpy().reshape(len(batch), steps, top_k + 1)
        is_reference = items == batch.reference[:, None, None]
        # Keep the first top_k items that are not the reference.
        keep = np.cumsum(~is_reference, axis=-1) <= top_k
        keep &= ~is_reference
        tags = item_attributes[np.maximum(items, 0)] * keep[..., None]
        shares.append(tags.sum(axis=2) / top_k)
    return np.concatenate(shares).astype(np.float64)


def random_tag_share(item_attributes: np.ndarray, queries: Triples, steps: int,
                     seed: int, top_k: int = 100) -> np.ndarray:
    """The chance of `retrieved_tag_share`: `top_k` random items (not the reference) per step."""
    rng = np.random.default_rng(seed + 1)
    shares = np.empty((len(queries), steps, item_attributes.shape[1]))
    for step in range(steps):
        items = random_walks(len(item_attributes), queries.reference, top_k, rng)
        shares[:, step] = item_attributes[items].mean(axis=1)
    return shares


def random_baseline(catalogue: Catalogue, test_triples: Triples, steps: int = 10,
                    max_queries: Optional[int] = None, seed: int = 0) -> dict:
    """Chance: uniformly random scores for ranking, random distinct items (never the reference)
    as walks, over the same queries as `evaluate_walker`."""
    rng = np.random.default_rng(seed + 1)
    ranking = random_ranking(catalogue.num_items, test_triples, rng)
    queries = sample_queries(test_triples, max_queries, seed)
    walks = random_walks(catalogue.num_items, queries.reference, steps, rng)
    gradual = walk_scores(walk_relevance(catalogue, with_references(walks, queries.reference)),
                          queries)
    return {**ranking, **gradual, "ind": float("nan")}


def popularity_baseline(catalogue: Catalogue, test_triples: Triples) -> dict:
    """Ranks every query's candidates by training popularity (the non-personalised reference
    point for HR@K / MRR; it has no walk)."""
    popularity = catalogue.item_popularity().astype(np.float64)
    # A tiny seeded jitter breaks popularity ties at random instead of pessimistically.
    popularity = popularity + np.random.default_rng(0).random(len(popularity)) * 1e-3
    scores = np.broadcast_to(popularity, (len(test_triples), len(popularity)))
    return {**ranking_metrics(scores, test_triples),
            **{name: float("nan") for name in (*WALK_COLUMNS, "ind")}}


def format_table(rows: dict[str, dict], columns: Sequence[str] = METRIC_NAMES) -> str:
    """A Markdown table of `rows` (model name -> metrics), NaN shown as '–'."""
    header = "| model | " + " | ".join(name.upper() for name in columns) + " |"
    lines = [header, "|---" * (len(columns) + 1) + "|"]
    for model, values in rows.items():
        cells = ["–" if np.isnan(values[name]) else f"{values[name]:.4f}" for name in columns]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
