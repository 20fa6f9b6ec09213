"""The baselines and ablations: their encoders, composers and losses against NumPy, a few
training steps each (on one device and under 2 replicas), and the shared walk / export path."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgrad.data.pipelines import attribute_weights, cgir_training_dataset, triples_dataset
from tfgrad.data.synthetic import SyntheticCatalogueConfig, generate_catalogue
from tfgrad.data.triples import make_triples, split_triples
from tfgrad.data.word_vectors import load_attribute_word_vectors
from tfgrad.distribute import get_strategy
from tfgrad.models.towers import ItemInteractionTower, WordAttributeTower
from tfgrad.retrieval.walk import Walker
from tfgrad.systems import cgir

RETRIEVAL_KINDS = tuple(cgir.MODELS)

LATENT_DIM = 16


@pytest.fixture(scope="module")
def setting():
    catalogue = generate_catalogue(SyntheticCatalogueConfig(
        num_items=150, num_users=200, num_attributes=5, seed=3))
    triples = make_triples(catalogue.item_attributes, seed=0)
    train, test = split_triples(triples, 0.2, seed=0)
    words = load_attribute_word_vectors(catalogue.attributes)
    return catalogue, train, test, words


def make(kind, setting, **overrides):
    catalogue, train, test, words = setting
    keras.utils.set_random_seed(0)
    config = cgir.CGIRConfig(model=cgir.RetrievalModelConfig(
        kind=kind, latent_dim=LATENT_DIM, hidden_dims=(32,), **overrides))
    return cgir.build_model(config, cgir.PreparedData(catalogue, words, train, test))


def batch_for(model, setting, size=16):
    catalogue, train, _, _ = setting
    if model.uses_user_batches:
        dataset = cgir_training_dataset(catalogue, train, size, size, seed=0)
    else:
        dataset = triples_dataset(train, size, seed=0)
    return next(iter(dataset))


def test_item_interaction_tower_matches_numpy():
    interactions = np.array([[0, 0], [1, 0], [1, 1], [2, 2], [0, 2], [2, 2]])
    tower = ItemInteractionTower(interactions, num_users=3, num_items=3, hidden_dims=(4,),
                                 output_dim=2, normalize=True)
    tower.build()
    columns = np.zeros((3, 3))
    for user, item in np.unique(interactions, axis=0):
        columns[item, user] = 1.0
    columns /= np.linalg.norm(columns, axis=1, keepdims=True)
    hidden = np.tanh(columns @ tower.first.kernel.numpy() + tower.first.bias.numpy())
    output = hidden @ tower.rest[0].kernel.numpy() + tower.rest[0].bias.numpy()
    expected = output / np.linalg.norm(output, axis=1, keepdims=True)
    np.testing.assert_allclose(tower().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_word_attribute_tower_is_a_projected_mean_of_word_vectors():
    words = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]], np.float32)
    matrix = np.array([[1, 1, 0], [0, 0, 1]], np.float32)
    tower = WordAttributeTower(words, matrix, output_dim=3)
    tower.build()
    mean = np.array([[0.5, 1.0], [3.0, 3.0]])
    expected = mean @ tower.projection.kernel.numpy() + tower.projection.bias.numpy()
    np.testing.assert_allclose(tower().numpy(), expected, rtol=1e-5)
    # Other attribute strings through their words (e.g. soft attributes at evaluation).
    np.testing.assert_allclose(tower.encode(words, matrix[:1]).numpy(), expected[:1], rtol=1e-5)


@pytest.mark.parametrize("kind", RETRIEVAL_KINDS)
def test_every_model_exposes_one_item_space(kind, setting):
    model = make(kind, setting)
    catalogue = setting[0]
    items = model.item_vectors().numpy()
    attributes = model.attribute_vectors().numpy()
    assert items.shape == (catalogue.num_items, LATENT_DIM)
    assert attributes.shape[0] == catalogue.num_attributes
    # The walker's composed queries are the model's own composer at every γ.
    walker = Walker.over(cgir.item_space(model, catalogue))
    reference = np.array([0, 5, 9])
    weights = attribute_weights(np.array([0, 1, 2]), np.array([1, -1, 1]),
                                catalogue.num_attributes)
    strengths = tf.constant([0.5, 1.0])
    queries = walker.queries(tf.constant(reference, tf.int32), tf.constant(weights),
                             strengths).numpy()
    for step, gamma in enumerate([0.5, 1.0]):
        expected = model.compose_queries(tf.constant(items[reference]),
                                         tf.constant(gamma * weights @ attributes)).numpy()
        np.testing.assert_allclose(queries[:, step], expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", RETRIEVAL_KINDS)
def test_losses_are_finite_and_training_lowers_them(kind, setting):
    model = make(kind, setting)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    batch = batch_for(model, setting)
    before = {name: float(value) for name, value in model.compute_losses(batch).items()}
    assert set(before) == set(model.LOSS_NAMES)
    assert all(np.isfinite(value) for value in before.values())
    for _ in range(30):
        model.train_step(batch)
    after = float(model.compute_losses(batch)["loss"])
    assert after < before["loss"]


def test_cbir_loss_matches_numpy(setting):
    model = make("cbir", setting, num_negatives=4)
    batch = batch_for(model, setting, size=8)
    negatives = np.random.default_rng(0).integers(0, model.num_items, (8, 4))
    model.sample_negatives = lambda batch_size: tf.constant(negatives, tf.int32)
    loss = float(model.compute_losses(batch)["loss"])
    items = model.item_vectors().numpy()
    queries = model.composed_queries(batch["reference"], batch["attribute"],
                                     batch["direction"]).numpy()
    positive = np.sum(queries * items[batch["target"].numpy()], -1) / model.temperature
    negative = np.einsum("bd,bkd->bk", queries, items[negatives]) / model.temperature
    per_example = (np.log1p(np.exp(-positive)) + np.log1p(np.exp(negative)).sum(1)) / 5
    assert loss == pytest.approx(per_example.mean(), rel=1e-4)


def test_dscmr_terms_match_numpy(setting):
    model = make("dscmr", setting)
    batch = batch_for(model, setting, size=8)
    terms = {name: float(value) for name, value in model.compute_losses(batch).items()}
    items = model.item_vectors().numpy()
    reference, target = batch["reference"].numpy(), batch["target"].numpy()
    queries = model.composed_queries(batch["reference"], batch["attribute"],
                                     batch["direction"]).numpy()
    labels = setting[0].item_attributes[target]
    classifier = model.classifier.kernel.numpy()
    label = (((queries @ classifier - labels) ** 2).sum(1)
             + ((items[target] @ classifier - labels) ** 2).sum(1)).mean()
    invariance = ((queries - items[target]) ** 2).sum(1).mean()
    logits = queries @ items.T / model.temperature
    logits[np.arange(8), reference] = -1e9
    log_softmax = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1,
                                  keepdims=True)) - logits.max(1, keepdims=True)
    matching = -log_softmax[np.arange(8), target].mean()
    assert terms["label"] == pytest.approx(label, rel=1e-4)
    assert terms["invariance"] == pytest.approx(invariance, rel=1e-4)
    assert terms["matching"] == pytest.approx(matching, rel=1e-4)
    assert terms["loss"] == pytest.approx(matching + label + 0.1 * invariance, rel=1e-4)


def test_tirg_composer_is_gate_plus_residual(setting):
    model = make("tirg", setting)
    composer = model.composer
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(3, LATENT_DIM)).astype(np.float32)
    modification = rng.normal(size=(3, LATENT_DIM)).astype(np.float32)
    joint = np.concatenate([reference, modification], axis=1)
    gate = composer.gate_mlp(joint).numpy() * reference
    residual = composer.residual_mlp(joint).numpy()
    expected = 1.0 * gate + 0.1 * residual  # TIRG's initial weights
    np.testing.assert_allclose(composer(reference, modification).numpy(), expected, rtol=1e-5,
                               atol=1e-6)


def test_cgir_no_sparse_is_cgir_without_the_sparsity_term(setting):
    model = make("cgir_no_sparse", setting)
    assert model.sparsity_weight == 0.0
    assert make("cgir", setting).sparsity_weight > 0.0


@pytest.mark.parametrize("kind", ["tirg", "cgir_no_vae"])
def test_mirrored_training_step(kind, setting):
    strategy = get_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        model = make(kind, setting)
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
    catalogue, train, _, _ = setting
    dataset = triples_dataset(train, 16, seed=0)
    history = model.fit(dataset, epochs=1, steps_per_epoch=3, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_baseline_export_walks_like_the_model(setting, tmp_path):
    catalogue, train, test, words = setting
    model = make("tirg", setting)
    config = cgir.CGIRConfig(name="tirg", export_dir=str(tmp_path),
                             eval=cgir.WalkEvalConfig(step_size=0.1))
    path = cgir.SYSTEM.export(model, config, cgir.PreparedData(catalogue, words, train, test))
    stock = os.path.join(str(tmp_path), "tirg_stock", "1")
    loaded = tf.saved_model.load(stock)
    walker = Walker.over(cgir.item_space(model, catalogue))
    weights = attribute_weights(np.array([1]), np.array([1]), catalogue.num_attributes)
    # "" is the config's default decoding (gradual); both decode as in memory.
    for requested, decoding in (("", "gradual"), ("greedy", "greedy")):
        result = loaded.signatures["walk_exact"](
            item=tf.constant([catalogue.item_ids[3]]),
            attribute=tf.constant([catalogue.attributes[1]]), direction=tf.constant(["more"]),
            steps=tf.constant(5), decoding=tf.constant(requested))
        walk = walker.walk(np.array([3]), weights, 5, 0.1, decoding=decoding)
        expected = catalogue.item_ids[walk.items.numpy()[0]]
        assert [x.decode() for x in result["item_ids"].numpy()[0]] == expected.tolist()
    assert os.path.exists(os.path.join(path, "saved_model.pb"))
