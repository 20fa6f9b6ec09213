import numpy as np
import pytest

from support.data_paths import GENOME_HEAD, ML_SMALL, SOFT_ATTRIBUTES, needs_shared_data
from tfgrad.data.catalogue import Catalogue
from tfgrad.data.soft_attributes import (bradley_terry, direct_preferences, human_relevance,
                                         load_soft_attributes, normalize_title)


@pytest.mark.parametrize("movielens, soft", [
    ("Silence of the Lambs, The (1991)", "The Silence of the Lambs (1991)"),
    ("Good, the Bad and the Ugly, The (Buono, il brutto, il cattivo, Il) (1966)",
     "The Good, the Bad and the Ugly (Buono, il brutto, il cattivo, Il) (1966)"),
    ("Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)",
     "Amelie (Fabuleux destin d'Am\ufffd\ufffdlie Poulain, Le) (2001)"),
    ("Monsters, Inc. (2001)", "Monsters, Inc. (2001)"),
])
def test_titles_match(movielens, soft):
    assert normalize_title(movielens) == normalize_title(soft)


def test_different_titles_differ():
    assert normalize_title("Alien (1979)") != normalize_title("Aliens (1986)")


def test_bradley_terry_two_players_is_the_win_ratio():
    # Player 1 beats player 0 three times out of four: p1/p0 = 3 (the MLE), without a prior.
    first = np.zeros(4, dtype=int)
    second = np.ones(4, dtype=int)
    outcome = np.array([1.0, 1.0, 1.0, 0.0])
    scores = bradley_terry(2, first, second, outcome, prior=0.0)
    assert scores[1] - scores[0] == pytest.approx(np.log(3.0), abs=1e-6)


def test_bradley_terry_ties_count_half_and_prior_keeps_it_finite():
    # A tie and a win for player 1: 1.5 wins vs 0.5: ratio 3.
    scores = bradley_terry(3, [0, 0], [1, 1], [0.5, 1.0], prior=0.0)
    assert scores[1] - scores[0] == pytest.approx(np.log(3.0), abs=1e-6)
    assert np.isnan(scores[2])  # never compared
    # Undefeated player: infinite without a prior, finite with one.
    unbeaten = bradley_terry(2, [0, 0], [1, 1], [1.0, 1.0], prior=0.5)
    assert np.isfinite(unbeaten).all() and unbeaten[1] > unbeaten[0]


def test_bradley_terry_satisfies_its_likelihood_equations():
    rng = np.random.default_rng(0)
    first, second = rng.integers(0, 5, 200), rng.integers(0, 5, 200)
    keep = first != second
    first, second = first[keep], second[keep]
    truth = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    outcome = (rng.random(len(first)) < 1 / (1 + np.exp(truth[first] - truth[second])))
    scores = bradley_terry(5, first, second, outcome.astype(float), prior=0.0)
    p = np.exp(scores)
    # MLE: every player's expected wins equal its observed wins.
    expected = np.zeros(5)
    np.add.at(expected, second, p[second] / (p[first] + p[second]))
    np.add.at(expected, first, p[first] / (p[first] + p[second]))
    observed = np.bincount(second, outcome, 5) + np.bincount(first, 1 - outcome, 5)
    np.testing.assert_allclose(expected, observed, atol=1e-4)
    assert np.corrcoef(scores, truth)[0, 1] > 0.9


def _catalogue(names):
    count = len(names)
    return Catalogue(name="t", item_ids=np.array([str(i) for i in range(count)]),
                     item_names=np.array(names), attributes=("x", "y"),
                     item_attributes=np.zeros((count, 2), np.float32),
                     interactions=np.array([[0, 0]]), num_users=1)


def test_loader_turns_buckets_into_pairwise_outcomes(tmp_path):
    path = tmp_path / "soft-attributes.csv"
    path.write_text(
        "rater_id,reference_title,soft_attribute,less_than,about_as,more_than\n"
        '1,R (2000),funny,"[""L (2001)""]","[""A (2002)""]","[""M (2003)"", ""Unknown (1900)""]"\n')
    catalogue = _catalogue(["R (2000)", "L (2001)", "A (2002)", "M (2003)"])
    judgments = load_soft_attributes(str(path), catalogue)
    assert judgments.attributes == ("funny",)
    assert judgments.unmatched_titles == ("Unknown (1900)",)
    pairs = {(a, b): o for a, b, o in zip(judgments.first.tolist(), judgments.second.tolist(),
                                          judgments.outcome.tolist())}
    # Against the reference: less 0, about 0.5, more 1; across buckets: the higher bucket wins.
    assert pairs == {(0, 1): 0.0, (0, 2): 0.5, (0, 3): 1.0, (1, 2): 1.0, (1, 3): 1.0,
                     (2, 3): 1.0}
    relevance = human_relevance(judgments, 5)
    assert np.isnan(relevance[4]).all()
    order = np.argsort(relevance[:4, 0])
    assert order.tolist() == [1, 0, 2, 3]  # L < R < A < M (A ties R but beats L)
    votes = direct_preferences(judgments)
    assert votes[(0, 1, 3)] == 1.0 and votes[(0, 3, 1)] == -1.0 and votes[(0, 0, 2)] == 0.0


def test_missing_file_and_bad_columns(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_soft_attributes(str(tmp_path / "none.csv"), _catalogue(["A (1)"]))
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="needs columns"):
        load_soft_attributes(str(bad), _catalogue(["A (1)"]))


@needs_shared_data
def test_shared_judgments_match_ml_latest_small():
    from tfgrad.data.movielens import load_movielens

    catalogue = load_movielens(ML_SMALL, genome_dir=GENOME_HEAD)
    judgments = load_soft_attributes(SOFT_ATTRIBUTES, catalogue)
    assert len(judgments.attributes) == 60
    assert len(judgments.matched_titles) == 303 and not judgments.unmatched_titles
    relevance = human_relevance(judgments, catalogue.num_items)
    judged = ~np.isnan(relevance).all(axis=1)
    assert judged.sum() == 300
    # Each attribute has most of the judged movies scored.
    assert (~np.isnan(relevance[judged])).mean(axis=0).min() > 0.75
