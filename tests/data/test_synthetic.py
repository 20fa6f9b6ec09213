"""Tests for tfgrad.data.synthetic: determinism, shapes, tag/relevance consistency and choices."""

import dataclasses

import numpy as np
import pytest

from tfgrad.data.catalogue import Catalogue
from tfgrad.data.synthetic import (ATTRIBUTE_WORDS, SyntheticCatalogueConfig,
                                   generate_catalogue)

SMALL = SyntheticCatalogueConfig(num_items=300, num_users=200, num_attributes=6,
                                 num_nuisance_factors=3, mean_interactions_per_user=12.0,
                                 preference_temperature=0.5, seed=3)


@pytest.fixture(scope="module")
def catalogue():
    return generate_catalogue(SMALL)


def _arrays(catalogue):
    return {
        "item_ids": catalogue.item_ids, "item_names": catalogue.item_names,
        "item_attributes": catalogue.item_attributes, "interactions": catalogue.interactions,
        "relevance": catalogue.relevance,
    }


# ---------------------------------------------------------------- determinism


def test_same_seed_gives_identical_catalogue(catalogue):
    again = generate_catalogue(SMALL)
    for key, value in _arrays(catalogue).items():
        other = _arrays(again)[key]
        assert value.shape == other.shape, key
        np.testing.assert_array_equal(value, other, err_msg=key)
    assert again.attributes == catalogue.attributes
    assert again.num_users == catalogue.num_users


def test_other_seed_gives_different_catalogue(catalogue):
    other = generate_catalogue(dataclasses.replace(SMALL, seed=SMALL.seed + 1))
    assert not np.array_equal(other.relevance, catalogue.relevance)
    assert not np.array_equal(other.item_attributes, catalogue.item_attributes)
    same_shape = other.interactions.shape == catalogue.interactions.shape
    assert not (same_shape and np.array_equal(other.interactions, catalogue.interactions))


# ---------------------------------------------------------------- shapes and contents


def test_shapes_follow_config(catalogue):
    assert isinstance(catalogue, Catalogue)
    m, t = SMALL.num_items, SMALL.num_attributes
    assert catalogue.num_items == m
    assert catalogue.num_users == SMALL.num_users
    assert catalogue.item_ids.shape == (m,)
    assert catalogue.item_names.shape == (m,)
    assert catalogue.item_attributes.shape == (m, t)
    assert catalogue.relevance.shape == (m, t)
    assert catalogue.interactions.ndim == 2 and catalogue.interactions.shape[1] == 2
    assert catalogue.interactions.dtype == np.int64


@pytest.mark.parametrize("num_attributes", [1, 5, len(ATTRIBUTE_WORDS)])
def test_attribute_names_are_first_words(num_attributes):
    config = dataclasses.replace(SMALL, num_items=40, num_users=20,
                                 num_attributes=num_attributes)
    result = generate_catalogue(config)
    assert result.attributes == tuple(ATTRIBUTE_WORDS[:num_attributes])
    assert result.item_attributes.shape == (40, num_attributes)


def test_relevance_in_unit_interval_and_spread(catalogue):
    relevance = catalogue.relevance
    assert relevance.dtype == np.float32
    assert relevance.min() >= 0.0 and relevance.max() <= 1.0
    # Graded, not binary: plenty of values strictly between the ends.
    assert np.mean((relevance > 0.05) & (relevance < 0.95)) > 0.5


def test_tags_are_thresholded_relevance(catalogue):
    expected = np.zeros(catalogue.relevance.shape, dtype=np.float32)
    for i in range(expected.shape[0]):
        for t in range(expected.shape[1]):
            expected[i, t] = 1.0 if catalogue.relevance[i, t] > 0.5 else 0.0
    np.testing.assert_array_equal(catalogue.item_attributes, expected)
    assert catalogue.item_attributes.dtype == np.float32
    # Both tag values actually occur, so the comparison is not vacuous.
    assert 0.2 < catalogue.item_attributes.mean() < 0.8


def test_item_ids_unique_and_names_per_item(catalogue):
    ids = catalogue.item_ids.tolist()
    assert len(set(ids)) == len(ids)
    assert all(isinstance(name, str) and name for name in catalogue.item_names.tolist())


def test_indices_in_range(catalogue):
    users, items = catalogue.interactions[:, 0], catalogue.interactions[:, 1]
    assert users.min() >= 0 and users.max() < SMALL.num_users
    assert items.min() >= 0 and items.max() < SMALL.num_items


@pytest.mark.parametrize("mean", [1.0, 12.0])
def test_every_user_has_at_least_five_distinct_interactions(mean):
    config = dataclasses.replace(SMALL, mean_interactions_per_user=mean)
    result = generate_catalogue(config)
    counts = np.zeros(config.num_users, dtype=np.int64)
    seen = set()
    for user, item in result.interactions.tolist():
        assert (user, item) not in seen, (user, item)
        seen.add((user, item))
        counts[user] += 1
    assert counts.min() >= 5
    assert counts.max() <= config.num_items // 2
    if mean == 1.0:
        # The Poisson draw is mostly below 5, so the floor of 5 dominates.
        assert np.mean(counts == 5) > 0.9
    else:
        assert abs(counts.mean() - mean) < 1.5


def test_smallest_catalogue_caps_interactions_at_half_the_items():
    config = SyntheticCatalogueConfig(num_items=10, num_users=15, num_attributes=3,
                                      mean_interactions_per_user=30.0, seed=0)
    result = generate_catalogue(config)
    counts = np.bincount(result.interactions[:, 0], minlength=15)
    np.testing.assert_array_equal(counts, np.full(15, 5))
    pairs = {tuple(p) for p in result.interactions.tolist()}
    assert len(pairs) == len(result.interactions)


def test_zero_nuisance_factors_is_allowed():
    result = generate_catalogue(dataclasses.replace(SMALL, num_nuisance_factors=0, num_users=30))
    assert result.num_items == SMALL.num_items


# ---------------------------------------------------------------- preference temperature


def _top_decile_share(catalogue):
    popularity = np.sort(catalogue.item_popularity())[::-1]
    top = int(np.ceil(0.1 * len(popularity)))
    return popularity[:top].sum() / popularity.sum()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_low_temperature_concentrates_choices(seed):
    # Near-deterministic users all pick items scored high by popularity and shared factors;
    # near-uniform users spread out (top decile of items ≈ 10–20% of interactions).
    shares = {}
    for temperature in (0.05, 50.0):
        config = dataclasses.replace(SMALL, preference_temperature=temperature, seed=seed)
        shares[temperature] = _top_decile_share(generate_catalogue(config))
    assert shares[0.05] > shares[50.0] + 0.15, shares
    assert shares[50.0] < 0.25, shares


def test_choices_are_more_concentrated_than_uniform():
    # Users choose by affinity, not uniformly: the top decile of items gets a clearly larger share
    # than under a null with the same per-user counts drawn uniformly without replacement.
    config = dataclasses.replace(SMALL, preference_temperature=0.2)
    result = generate_catalogue(config)
    rng = np.random.default_rng(0)
    counts = np.bincount(result.interactions[:, 0], minlength=config.num_users)
    null_items = np.concatenate([rng.choice(config.num_items, size=c, replace=False)
                                 for c in counts])
    null = dataclasses.replace(
        result, interactions=np.stack([np.repeat(np.arange(config.num_users), counts),
                                       null_items], axis=1).astype(np.int64))
    observed, null_share = _top_decile_share(result), _top_decile_share(null)
    assert observed > null_share + 0.1, (observed, null_share)


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize("overrides, message", [
    (dict(num_attributes=0), "num_attributes"),
    (dict(num_attributes=len(ATTRIBUTE_WORDS) + 1), "num_attributes"),
    (dict(num_items=9), "num_items"),
    (dict(num_items=0), "num_items"),
    (dict(num_users=0), "num_users"),
    (dict(mean_interactions_per_user=0.0), "mean_interactions_per_user"),
    (dict(num_nuisance_factors=-1), "num_nuisance_factors"),
    (dict(preference_temperature=-0.1), "preference_temperature"),
    (dict(preference_temperature=0.0), "preference_temperature"),
])
def test_invalid_config_raises(overrides, message):
    with pytest.raises(ValueError, match=message):
        SyntheticCatalogueConfig(**overrides)


def test_boundary_configs_are_valid():
    SyntheticCatalogueConfig(num_attributes=1, num_items=10)
    SyntheticCatalogueConfig(num_attributes=len(ATTRIBUTE_WORDS))


def test_family_members_share_their_non_variant_attributes():
    catalogue = generate_catalogue(SyntheticCatalogueConfig(
        num_items=400, num_users=20, num_attributes=10, family_size=8, variant_attributes=2,
        family_noise=0.02, seed=6))
    independent = generate_catalogue(SyntheticCatalogueConfig(
        num_items=400, num_users=20, num_attributes=10, family_size=1, seed=6))
    # Neighbouring ids are mostly in one family: their relevance vectors agree in most columns.
    def close_columns(relevance):
        return np.mean(np.abs(relevance[1:] - relevance[:-1]) < 0.1, axis=1).mean()
    assert close_columns(catalogue.relevance) > 0.5 > close_columns(independent.relevance)


def test_families_are_kept_as_consecutive_runs_sharing_most_tags():
    catalogue = generate_catalogue(SyntheticCatalogueConfig(num_items=600, num_users=20, seed=2))
    families = catalogue.item_families
    assert families.shape == (600,) and families[0] == 0
    assert set(np.diff(families).tolist()) <= {0, 1}
    assert 5 < 600 / (families.max() + 1) < 11  # the default family_size is 8
    np.testing.assert_array_equal(catalogue.near_duplicate_groups(), families)
    # 9 of the 12 attributes are the family's (up to noise), 3 are drawn afresh per member.
    tags = catalogue.item_attributes
    agreement = (tags[1:] == tags[:-1]).mean(axis=1)
    same_family = families[1:] == families[:-1]
    assert agreement[same_family].mean() > 0.75 > 0.6 > agreement[~same_family].mean()


def test_independent_items_are_families_of_one():
    catalogue = generate_catalogue(SyntheticCatalogueConfig(num_items=50, num_users=10,
                                                            family_size=1))
    np.testing.assert_array_equal(catalogue.item_families, np.arange(50))


def test_negative_family_settings_are_rejected():
    for field in ("family_size", "variant_attributes", "family_noise"):
        with pytest.raises(ValueError, match=field):
            SyntheticCatalogueConfig(**{field: -1})
