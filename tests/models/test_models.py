"""Tests for tfgrad.models (CGIR, InteractionVAE, SparseAttributeEncoder) and tfgrad.distribute.

Expected values are computed in NumPy from the layers' weights; training runs on a tiny synthetic
catalogue, once on one device and once under a 2-replica CPU MirroredStrategy (conftest.py
splits the CPU in two).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgrad.data.pipelines import cgir_training_dataset
from tfgrad.data.synthetic import SyntheticCatalogueConfig, generate_catalogue
from tfgrad.data.triples import make_triples
from tfgrad.distribute import get_strategy
from tfgrad.models.cgir import CGIR
from tfgrad.models.interaction_vae import InteractionVAE
from tfgrad.models.sparse_attributes import SparseAttributeEncoder

from support.cgir_batches import cgir_batch

NUM_ITEMS = 50
LATENT_DIM = 8
WORD_VECTORS = np.random.default_rng(42).normal(size=(6, 8)).astype(np.float32)
# Attribute 0 = words {0, 1}, attribute 1 = word {2}, attribute 2 = words {3, 4, 5}.
ATTRIBUTE_WORD_MATRIX = np.array([[1, 1, 0, 0, 0, 0],
                                  [0, 0, 1, 0, 0, 0],
                                  [0, 0, 0, 1, 1, 1]], np.float32)


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


def make_model(**overrides) -> CGIR:
    arguments = dict(num_items=NUM_ITEMS, word_vectors=WORD_VECTORS,
                     attribute_word_matrix=ATTRIBUTE_WORD_MATRIX, latent_dim=LATENT_DIM,
                     hidden_dims=(16,))
    arguments.update(overrides)
    model = CGIR(**arguments)
    model.build()
    return model


def make_batch(seed=0, users=6, triples=5):
    """A hand-made batch (tests/support/cgir_batches.py)."""
    return cgir_batch(NUM_ITEMS, seed, users, triples)


@pytest.fixture(scope="module")
def catalogue_and_triples():
    catalogue = generate_catalogue(SyntheticCatalogueConfig(
        num_items=NUM_ITEMS, num_users=200, num_attributes=3, mean_interactions_per_user=8.0,
        seed=0))
    triples = make_triples(catalogue.item_attributes)
    assert len(triples) > 0
    return catalogue, triples


# ---------------------------------------------------------------- NumPy references


def _l2_normalize(x):
    return x / np.sqrt(np.maximum(np.sum(x * x, axis=-1, keepdims=True), 1e-12))


def _log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def numpy_word_activations(model):
    kernel = model.attribute_encoder.projection.kernel.numpy().astype(np.float64)
    bias = model.attribute_encoder.projection.bias.numpy().astype(np.float64)
    return np.clip(WORD_VECTORS.astype(np.float64) @ kernel + bias, 0.0, 1.0)


def numpy_attribute_vectors(model):
    return ATTRIBUTE_WORD_MATRIX.astype(np.float64) @ numpy_word_activations(model)


def numpy_item_vectors(model):
    table = model.vae.item_table.numpy().astype(np.float64)
    return _l2_normalize(table) if model.vae.similarity == "cosine" else table


def numpy_alignment_logits(model, reference, attribute, direction):
    items = numpy_item_vectors(model)
    weights = np.zeros((len(reference), model.num_attributes))
    weights[np.arange(len(reference)), attribute] = direction
    logits = (items[reference] + weights @ numpy_attribute_vectors(model)) @ items.T
    if model.vae.similarity == "cosine":
        logits = logits / model.vae.temperature
    return logits  # reference not masked


def numpy_interaction_logits(model, interactions):
    """(decoder logits [B, M], μ, log σ²) with training=False (no dropout, z = μ)."""
    vae = model.vae
    hidden = _l2_normalize(interactions.astype(np.float64))
    for layer in vae.encoder_layers:
        hidden = np.tanh(hidden @ layer.kernel.numpy() + layer.bias.numpy())
    posterior = hidden @ vae.posterior.kernel.numpy() + vae.posterior.bias.numpy()
    mean, log_variance = posterior[:, :LATENT_DIM], posterior[:, LATENT_DIM:]
    user = _l2_normalize(mean) if vae.similarity == "cosine" else mean
    logits = user @ numpy_item_vectors(model).T
    if vae.similarity == "cosine":
        logits = logits / vae.temperature
    return logits, mean, log_variance


def numpy_losses(model, batch):
    """Every term of CGIR's objective with training=False (no dropout, z = μ)."""
    logits, mean, log_variance = numpy_interaction_logits(model, batch["interactions"])
    reconstruction = np.mean(-(batch["interactions"] * _log_softmax(logits)).sum(axis=1))
    kl = np.mean(0.5 * np.sum(np.exp(log_variance) + mean ** 2 - 1.0 - log_variance, axis=1))

    alignment_logits = numpy_alignment_logits(model, batch["reference"], batch["attribute"],
                                              batch["direction"])
    alignment_logits[np.arange(len(batch["reference"])), batch["reference"]] = -np.inf
    alignment = np.mean(-_log_softmax(alignment_logits)[np.arange(len(batch["target"])),
                                                        batch["target"]])

    activations = numpy_word_activations(model)
    asl = np.sum(np.maximum(activations.mean(axis=0) - model.target_sparsity, 0.0) ** 2)
    psl = np.mean(np.sum(activations * (1.0 - activations), axis=1))

    items, codes = numpy_item_vectors(model), numpy_attribute_vectors(model)[batch["attribute"]]
    scale = 1.0 / model.vae.temperature if model.vae.similarity == "cosine" else 1.0
    margin = scale * ((items[batch["target"]] - items[batch["reference"]]) * codes).sum(axis=1)
    ordinal = np.mean(np.log1p(np.exp(-batch["direction"] * margin)))
    return {"reconstruction": reconstruction, "kl": kl, "alignment": alignment,
            "sparsity": asl + psl, "ordinal": ordinal}


# ---------------------------------------------------------------- config and saving


def test_config_round_trip_gives_same_config_and_outputs():
    model = make_model(similarity="dot", temperature=0.3, beta=0.4, dropout_rate=0.25,
                       alignment_weight=0.7, sparsity_weight=0.05, target_sparsity=0.15,
                       ordinal_weight=0.3)
    config = model.get_config()
    for key, value in dict(num_items=NUM_ITEMS, latent_dim=LATENT_DIM, hidden_dims=[16],
                           similarity="dot", temperature=0.3, beta=0.4, dropout_rate=0.25,
                           alignment_weight=0.7, sparsity_weight=0.05,
                           target_sparsity=0.15, ordinal_weight=0.3).items():
        assert config[key] == value, key
    np.testing.assert_array_equal(np.array(config["word_vectors"], np.float32), WORD_VECTORS)
    np.testing.assert_array_equal(np.array(config["attribute_word_matrix"]),
                                  ATTRIBUTE_WORD_MATRIX)

    clone = CGIR.from_config(config)
    clone.build()
    assert clone.get_config() == config
    # Fresh weights differ until copied.
    assert not np.allclose(clone.item_vectors().numpy(), model.item_vectors().numpy())
    clone.set_weights(model.get_weights())

    batch = make_batch()
    outputs, clone_outputs = model(batch), clone(batch)
    for name in ("interaction_logits", "alignment_logits"):
        np.testing.assert_allclose(clone_outputs[name].numpy(), outputs[name].numpy(),
                                   rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(clone.attribute_vectors().numpy(),
                               model.attribute_vectors().numpy(), rtol=1e-6)


def test_config_is_json_serialisable():
    import json

    config = make_model().get_config()
    assert json.loads(json.dumps(config)) == config


def test_keras_saving_round_trip(tmp_path):
    model = make_model()
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)

    assert isinstance(loaded, CGIR)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_allclose(loaded.item_vectors().numpy(), model.item_vectors().numpy(),
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(loaded.attribute_vectors().numpy(),
                               model.attribute_vectors().numpy(), rtol=1e-6, atol=1e-7)
    batch = make_batch()
    np.testing.assert_allclose(loaded(batch)["interaction_logits"].numpy(),
                               model(batch)["interaction_logits"].numpy(), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- the item space


def test_attribute_vectors_match_numpy():
    model = make_model()
    projection = model.attribute_encoder.projection
    # Larger weights and a bias so that both ends of the clip are exercised.
    projection.kernel.assign(3.0 * projection.kernel.numpy())
    projection.bias.assign(np.linspace(-0.5, 0.5, LATENT_DIM).astype(np.float32))
    pre_activation = WORD_VECTORS @ projection.kernel.numpy() + projection.bias.numpy()
    assert (pre_activation > 1).any() and (pre_activation < 0).any()

    expected = numpy_attribute_vectors(model)
    attribute_vectors = model.attribute_vectors()
    assert attribute_vectors.shape == (3, LATENT_DIM)
    np.testing.assert_allclose(attribute_vectors.numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.attribute_encoder.word_activations().numpy(),
                               numpy_word_activations(model), rtol=1e-5, atol=1e-6)


def test_compose_queries_is_linear():
    model = make_model()
    rng = np.random.default_rng(1)
    reference_vectors = rng.normal(size=(4, LATENT_DIM)).astype(np.float32)
    weights = rng.normal(size=(4, 3)).astype(np.float32)
    other_weights = rng.normal(size=(4, 3)).astype(np.float32)

    attributes = numpy_attribute_vectors(model).astype(np.float32)
    queries = model.compose_queries(tf.constant(reference_vectors),
                                    tf.constant(weights @ attributes))
    expected = reference_vectors + weights @ attributes
    np.testing.assert_allclose(queries.numpy(), expected, rtol=1e-5, atol=1e-5)

    def modification(w):
        return (model.compose_queries(tf.constant(reference_vectors), tf.constant(w @ attributes))
                - reference_vectors).numpy()

    np.testing.assert_allclose(modification(2.0 * weights - 3.0 * other_weights),
                               2.0 * modification(weights) - 3.0 * modification(other_weights),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(modification(np.zeros((4, 3), np.float32)), 0.0, atol=1e-7)


@pytest.mark.parametrize("similarity", ["cosine", "dot"])
def test_alignment_logits_match_numpy_and_mask_the_reference(similarity):
    model = make_model(similarity=similarity)
    reference = np.array([0, 7, 7, 49])
    attribute = np.array([0, 1, 2, 2])
    direction = np.array([1, -1, 1, -1])

    logits = model.alignment_logits(tf.constant(reference), tf.constant(attribute),
                                    tf.constant(direction)).numpy()

    assert logits.shape == (4, NUM_ITEMS)
    expected = numpy_alignment_logits(model, reference, attribute, direction)
    rows = np.arange(4)
    masked = np.ones_like(logits, bool)
    masked[rows, reference] = False
    np.testing.assert_allclose(logits[masked], expected[masked], rtol=1e-4, atol=1e-4)
    others = np.where(masked, logits, np.inf).min(axis=1)
    assert np.all(logits[rows, reference] < others - 1e6)
    assert np.all(np.isfinite(logits))
    # Softmax puts no mass on the reference.
    probabilities = tf.nn.softmax(logits).numpy()
    assert np.all(probabilities[rows, reference] == 0.0)


def test_item_vectors_are_unit_norm_under_cosine():
    model = make_model(similarity="cosine")
    table = model.vae.item_table.numpy()
    assert not np.allclose(np.linalg.norm(table, axis=1), 1.0)
    item_vectors = model.item_vectors().numpy()
    assert item_vectors.shape == (NUM_ITEMS, LATENT_DIM)
    np.testing.assert_allclose(np.linalg.norm(item_vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(item_vectors, _l2_normalize(table), rtol=1e-5, atol=1e-6)


def test_item_vectors_are_raw_under_dot():
    model = make_model(similarity="dot")
    np.testing.assert_array_equal(model.item_vectors().numpy(), model.vae.item_table.numpy())


@pytest.mark.parametrize("similarity", ["cosine", "dot"])
def test_call_outputs_match_numpy(similarity):
    model = make_model(similarity=similarity, temperature=0.2)
    batch = make_batch()
    outputs = model(batch, training=False)
    assert outputs["interaction_logits"].shape == (6, NUM_ITEMS)
    assert outputs["alignment_logits"].shape == (5, NUM_ITEMS)
    np.testing.assert_allclose(outputs["interaction_logits"].numpy(),
                               numpy_interaction_logits(model, batch["interactions"])[0],
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        outputs["alignment_logits"].numpy(),
        model.alignment_logits(batch["reference"], batch["attribute"],
                               batch["direction"]).numpy(), rtol=1e-6)
    if similarity == "cosine":  # cosine / τ is bounded by 1/τ
        assert np.all(np.abs(outputs["interaction_logits"].numpy()) <= 1 / 0.2 + 1e-4)


# ---------------------------------------------------------------- argument validation


@pytest.mark.parametrize("similarity", ["euclidean", "", "COSINE"])
def test_interaction_vae_rejects_unknown_similarity(similarity):
    with pytest.raises(ValueError, match="similarity"):
        InteractionVAE(NUM_ITEMS, LATENT_DIM, similarity=similarity)
    with pytest.raises(ValueError, match="similarity"):
        make_model(similarity=similarity)


@pytest.mark.parametrize("temperature", [0.0, -0.1])
def test_interaction_vae_rejects_non_positive_temperature(temperature):
    with pytest.raises(ValueError, match="temperature"):
        InteractionVAE(NUM_ITEMS, LATENT_DIM, temperature=temperature)
    with pytest.raises(ValueError, match="temperature"):
        make_model(temperature=temperature)


def test_sparse_attribute_encoder_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="5 word columns"):
        SparseAttributeEncoder(WORD_VECTORS, np.ones((3, 5)), LATENT_DIM)
    with pytest.raises(ValueError, match="2-D"):
        SparseAttributeEncoder(WORD_VECTORS[0], ATTRIBUTE_WORD_MATRIX, LATENT_DIM)
    with pytest.raises(ValueError, match="2-D"):
        SparseAttributeEncoder(WORD_VECTORS, ATTRIBUTE_WORD_MATRIX[0], LATENT_DIM)
    # The matching shapes are accepted.
    SparseAttributeEncoder(WORD_VECTORS, ATTRIBUTE_WORD_MATRIX, LATENT_DIM)


# ---------------------------------------------------------------- the objective


@pytest.mark.parametrize("similarity", ["cosine", "dot"])
def test_compute_losses_match_numpy(similarity):
    model = make_model(similarity=similarity, beta=0.3, alignment_weight=0.7,
                       sparsity_weight=0.5, target_sparsity=0.05, ordinal_weight=0.2)
    batch = make_batch()
    terms = {name: value.numpy() for name, value in model.compute_losses(batch).items()}

    expected = numpy_losses(model, batch)
    for name in ("reconstruction", "kl", "alignment", "sparsity", "ordinal"):
        np.testing.assert_allclose(terms[name], expected[name], rtol=1e-4, atol=1e-5,
                                   err_msg=name)
    total = (expected["reconstruction"] + 0.3 * expected["kl"] + 0.7 * expected["alignment"]
             + 0.5 * expected["sparsity"] + 0.2 * expected["ordinal"])
    np.testing.assert_allclose(terms["loss"], total, rtol=1e-4)


def test_compute_losses_in_training_are_finite_and_combine():
    model = make_model(beta=0.3, alignment_weight=0.7, sparsity_weight=0.5)
    terms = {name: value.numpy()
             for name, value in model.compute_losses(make_batch(), training=True).items()}
    assert set(terms) == {"loss", "reconstruction", "kl", "alignment", "sparsity", "ordinal"}
    for name, value in terms.items():
        assert np.ndim(value) == 0 and np.isfinite(value), name
    assert terms["reconstruction"] > 0 and terms["alignment"] > 0
    assert terms["kl"] >= 0 and terms["sparsity"] >= 0
    np.testing.assert_allclose(
        terms["loss"], terms["reconstruction"] + 0.3 * terms["kl"] + 0.7 * terms["alignment"]
        + 0.5 * terms["sparsity"], rtol=1e-5)


# ---------------------------------------------------------------- training


def _dataset(catalogue_and_triples, user_batch_size=32, triple_batch_size=16, seed=0):
    catalogue, triples = catalogue_and_triples
    return cgir_training_dataset(catalogue, triples, user_batch_size, triple_batch_size, seed)


def test_dataset_element_spec(catalogue_and_triples):
    spec = _dataset(catalogue_and_triples).element_spec
    assert spec["interactions"].shape.as_list() == [32, NUM_ITEMS]
    assert spec["interactions"].dtype == tf.float32
    for key in ("reference", "target", "attribute", "direction"):
        assert spec[key].shape.as_list() == [16] and spec[key].dtype == tf.int64


def test_fit_reduces_the_loss(catalogue_and_triples):
    model = make_model()
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    catalogue, triples = catalogue_and_triples
    # A fixed evaluation batch: all users' rows and the first 64 triples.
    interactions = np.zeros((catalogue.num_users, NUM_ITEMS), np.float32)
    interactions[catalogue.interactions[:, 0], catalogue.interactions[:, 1]] = 1.0
    evaluation = {"interactions": interactions, "reference": triples.reference[:64],
                  "target": triples.target[:64], "attribute": triples.attribute[:64],
                  "direction": triples.direction[:64]}
    before = {k: v.numpy() for k, v in model.compute_losses(evaluation).items()}

    history = model.fit(_dataset(catalogue_and_triples), epochs=6, steps_per_epoch=10,
                        verbose=0)

    after = {k: v.numpy() for k, v in model.compute_losses(evaluation).items()}
    losses = history.history["loss"]
    assert len(losses) == 6 and np.all(np.isfinite(losses))
    assert losses[-1] < 0.8 * losses[0]
    assert after["loss"] < 0.8 * before["loss"]
    assert after["reconstruction"] < before["reconstruction"]
    assert after["alignment"] < before["alignment"]
    assert set(history.history) == {"loss", "reconstruction", "kl", "alignment", "sparsity",
                                    "ordinal"}


def test_the_ordinal_term_orders_the_triples_along_their_codes(catalogue_and_triples):
    """With λ_ord > 0 the triples' targets end up further along F(t) than their references
    than the paper's objective leaves them (a comparison that can fail)."""
    _, triples = catalogue_and_triples
    held = {key: getattr(triples, key)[:64] for key in
            ("reference", "attribute", "direction", "target")}
    ordinal = {}
    for weight in (0.0, 1.0):
        keras.utils.set_random_seed(0)
        model = make_model(ordinal_weight=weight)
        model.compile(optimizer=keras.optimizers.Adam(0.01))
        model.fit(_dataset(catalogue_and_triples), epochs=3, steps_per_epoch=10, verbose=0)
        ordinal[weight] = float(tf.reduce_mean(model.ordinal_losses(**held)))
    assert ordinal[1.0] < ordinal[0.0]


def _deterministic_copy(source, strategy):
    """A copy of `source` built under `strategy`, with no input dropout and (almost) no noise."""
    with strategy.scope():
        model = make_model(dropout_rate=0.0)
        model.set_weights(source.get_weights())
        bias = model.vae.posterior.bias.numpy()
        bias[LATENT_DIM:] = -30.0  # σ ≈ 3e-7: the reparameterised sample is the mean
        model.vae.posterior.bias.assign(bias)
        model.compile(optimizer=keras.optimizers.SGD(0.05))
    return model


def test_mirrored_train_step_equals_single_device_train_step():
    """Two replicas each see half the global batch; the step must equal one device's step."""
    strategy = get_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2
    source = make_model()
    batch = make_batch(seed=3, users=8, triples=8)
    dataset = tf.data.Dataset.from_tensor_slices(batch).batch(8).repeat()

    single = _deterministic_copy(source, tf.distribute.get_strategy())
    mirrored = _deterministic_copy(source, strategy)
    single_history = single.fit(dataset, epochs=1, steps_per_epoch=2, verbose=0).history
    mirrored_history = mirrored.fit(dataset, epochs=1, steps_per_epoch=2, verbose=0).history

    for name in single_history:
        np.testing.assert_allclose(mirrored_history[name], single_history[name], rtol=1e-4,
                                   err_msg=name)
    # The updates agree (a gradient summed over replicas without the 1/replicas scaling
    # would double them); compared relative to the size of each weight's update.
    start = _deterministic_copy(source, tf.distribute.get_strategy()).get_weights()
    for name, a, b, w in zip([v.path for v in single.weights], mirrored.get_weights(),
                             single.get_weights(), start):
        single_update, mirrored_update = b - w, a - w
        scale = np.abs(single_update).max()
        assert scale > 0, name  # every weight trained
        np.testing.assert_allclose(mirrored_update, single_update, rtol=0, atol=2e-3 * scale,
                                   err_msg=name)


def test_fit_under_mirrored_strategy(catalogue_and_triples):
    strategy = get_strategy("mirrored")
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        model = make_model()
        model.compile(optimizer=keras.optimizers.Adam(0.01))
    initial = model.get_weights()

    history = model.fit(_dataset(catalogue_and_triples), epochs=2, steps_per_epoch=3,
                        verbose=0)

    for name, values in history.history.items():
        assert len(values) == 2 and np.all(np.isfinite(values)), name
    assert all(not np.allclose(a, b) for a, b in zip(model.get_weights(), initial))


def test_one_device_strategy():
    strategy = get_strategy("one_device")
    assert isinstance(strategy, tf.distribute.OneDeviceStrategy)
    assert strategy.num_replicas_in_sync == 1
    assert "CPU" in strategy.extended.worker_devices[0].upper()
    with strategy.scope():
        model = make_model()
        model.compile(optimizer=keras.optimizers.Adam(0.01))
    history = model.fit(tf.data.Dataset.from_tensors(make_batch()).repeat(), epochs=1,
                        steps_per_epoch=2, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_auto_strategy_without_gpus_is_one_device():
    if tf.config.list_logical_devices("GPU"):
        pytest.skip("has GPUs")
    assert isinstance(get_strategy("auto"), tf.distribute.OneDeviceStrategy)


@pytest.mark.parametrize("name", ["tpu", "", "Mirrored"])
def test_unknown_strategy_raises(name):
    with pytest.raises(ValueError, match="strategy must be one of"):
        get_strategy(name)
