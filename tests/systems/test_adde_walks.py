"""ADDE's walk figures on hand label tables: ground-truth relevance along a walk and the
scores read from it (MGS, MGS-C, MGS-R beside the share of steps with the new value and of
other attributes kept)."""

import numpy as np
import pytest

from tfgrad.data.attributes import ManipulationQueries
from tfgrad.systems import adde

LABELS = np.array([[0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 0, 0], [1, 0, -1]])
# Item 0, but attribute 0 = 1.
QUERIES = ManipulationQueries(references=np.array([0]), attributes=np.array([0]),
                              values=np.array([1]), targets=np.array([[1, 0, 1]]))


def test_label_walk_relevance_by_hand():
    walks = np.array([[3, 1, 2, 4]])  # (the reference first in `walk_scores`' input)
    relevance = adde.label_walk_relevance(LABELS, walks, QUERIES)
    np.testing.assert_array_equal(relevance[0], [[0, 1, 0],    # item 3: old value, t2 changed
                                                 [1, 1, 1],    # item 1: the target
                                                 [1, 0, 1],    # item 2: t1 changed
                                                 [1, 1, 0]])   # item 4: t2 missing ≠ 1


def test_walk_scores_by_hand():
    walks = np.array([[0, 3, 1, 2, 4]])  # the reference, then 4 steps
    scores = adde.walk_scores(adde.label_walk_relevance(LABELS, walks, QUERIES), QUERIES)
    # The new value at steps 2-4 of 4; others kept at 5 of 8 (attribute, step) pairs.
    assert scores["target_share"] == pytest.approx(0.75)
    assert scores["others_kept"] == pytest.approx(5 / 8)
    # Consistency: one of the three steps increases the walked attribute (0 → 1).
    assert scores["mgs_c"] == pytest.approx(1 / 3)
    assert set(adde.WALK_COLUMNS) <= set(scores)
    # Others changed from the reference: t1 at step 3, t2 at steps 1 and 4: 3 of 8.
    assert scores["drift"] == pytest.approx(3 / 8)
