"""The evaluation helpers of the real-data settings, against hand computations."""

import numpy as np
import pytest

from tfgrad import evaluation
from tfgrad.data.triples import Triples
from tfgrad.retrieval.index import BruteForceIndex
from tfgrad.retrieval.walk import Walker
from tfgrad.spaces import LinearMove


def test_pool_walk_queries_point_away_from_the_median():
    nan = np.nan
    relevance = np.array([[0.1, 0.9], [0.5, nan], [0.9, 0.2], [0.3, 0.4]])
    queries = evaluation.pool_walk_queries(relevance, None, seed=0)
    found = set(zip(queries.reference.tolist(), queries.attribute.tolist(),
                    queries.direction.tolist()))
    # Medians: attribute 0 -> 0.4, attribute 1 -> 0.4; at or above the median walks "less".
    assert found == {(0, 0, 1), (1, 0, -1), (2, 0, -1), (3, 0, 1),
                     (0, 1, -1), (2, 1, 1), (3, 1, -1)}
    assert len(evaluation.pool_walk_queries(relevance, 3, seed=0)) == 3


def test_human_agreement_hand_example():
    walks = np.array([[1, 2, 3], [3, 2, 1]])
    queries = Triples(reference=np.array([0, 0]), target=np.array([-1, -1]),
                      attribute=np.array([0, 0]), direction=np.array([1, -1]))
    # People say 2 is more t0 than 1 (net +2), and 2 vs 3 is a wash (net 0).
    preferences = {(0, 1, 2): 2.0, (0, 2, 1): -2.0, (0, 2, 3): 0.0, (0, 3, 2): 0.0}
    result = evaluation.human_agreement(walks, queries, preferences)
    # Walk 1 "more": 1 -> 2 agrees. Walk 2 "less": 2 -> 1 agrees (less t0). 0 judged ties.
    assert result == {"agreement": 1.0, "judged_steps": 2, "steps": 4}
    flipped = Triples(reference=queries.reference, target=queries.target,
                      attribute=queries.attribute, direction=-queries.direction)
    assert evaluation.human_agreement(walks, flipped, preferences)["agreement"] == 0.0


def test_retrieved_tag_share_hand_example():
    # Four items on a line; the attribute points along +x. Tags: item 2 and 3 have tag 0.
    items = np.array([[1.0, 0.0], [0.9, 0.1], [0.1, 0.9], [0.0, 1.0]], np.float32)
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    attributes = np.array([[0.0, 5.0], [1.0, 0.0]], np.float32)
    walker = Walker(items, LinearMove(attributes), BruteForceIndex(items))
    tags = np.array([[0, 1], [0, 1], [1, 0], [1, 0]], np.float32)
    queries = Triples(reference=np.array([0]), target=np.array([-1]), attribute=np.array([0]),
                      direction=np.array([1]))
    share = evaluation.retrieved_tag_share(walker, queries, tags, steps=2, step_size=0.5,
                                           top_k=2)
    # γ = 0.5: q = (1, 2.5): top 2 (not the reference) are items 3 and 2 -> share of tag 0 = 1.
    np.testing.assert_allclose(share[0, 0], [1.0, 0.0])
    assert share.shape == (1, 2, 2)


def test_random_tag_share_is_the_base_rate_on_average():
    tags = np.zeros((1000, 2))
    tags[:250, 0] = 1
    queries = Triples(reference=np.arange(50), target=np.zeros(50, int),
                      attribute=np.zeros(50, int), direction=np.ones(50, int))
    share = evaluation.random_tag_share(tags, queries, steps=3, seed=0, top_k=100)
    assert share[..., 0].mean() == pytest.approx(0.25, abs=0.02)
    assert (share[..., 1] == 0).all()


def test_random_walks_are_distinct_and_avoid_the_reference():
    walks = evaluation.random_walks(20, np.array([3, 7]), 10, np.random.default_rng(0))
    for walk, reference in zip(walks, [3, 7]):
        assert len(set(walk.tolist())) == 10 and reference not in walk
