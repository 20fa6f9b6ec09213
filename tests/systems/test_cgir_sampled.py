"""The CGIR system's sampled-softmax settings (issue 16): what the flags build and refuse."""

import numpy as np
import pytest

from tfgrad.data.synthetic import SyntheticCatalogueConfig
from tfgrad.systems import cgir
from tfgrad.systems.cgir import CGIRConfig, RetrievalModelConfig


@pytest.fixture(scope="module")
def data():
    return cgir.prepare_data(CGIRConfig(synthetic=SyntheticCatalogueConfig(
        num_items=60, num_users=100, num_attributes=3)))


@pytest.mark.parametrize("kind", ["cgir", "cgir_no_sparse"])
def test_sampled_models_draw_from_the_training_popularity(data, kind):
    config = CGIRConfig(model=RetrievalModelConfig(kind=kind, softmax="sampled", num_sampled=32,
                                                   proposal_power=0.5))
    sampler = cgir.build_model(config, data).candidate_sampler
    assert (sampler.num_sampled, sampler.proposal, sampler.power) == (32, "popularity", 0.5)
    np.testing.assert_array_equal(sampler.item_counts, data.catalogue.item_popularity())


def test_the_default_is_the_full_softmax(data):
    model = cgir.build_model(CGIRConfig(), data)
    assert model.softmax == "full" and model.candidate_sampler is None


@pytest.mark.parametrize("overrides, message", [
    (dict(kind="cbir", softmax="sampled"), "applies to models cgir, cgir_no_sparse, not to 'cbir'"),
    (dict(softmax="sampling"), "unknown softmax 'sampling'"),
    (dict(proposal="zipf"), "unknown proposal 'zipf'"),
    (dict(num_sampled=0), "num_sampled must be positive"),
])
def test_bad_settings_are_named(overrides, message):
    with pytest.raises(ValueError, match=message):
        RetrievalModelConfig(**overrides)
