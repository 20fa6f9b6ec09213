"""Every Keras model and layer of tfgrad.models survives get_config -> from_config and a .keras
save -> load with the same outputs (support.roundtrip), on tiny sizes: 12 items, 20 users,
8-d vectors, 32 px photos."""

import importlib
import inspect
import pkgutil
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfgrad.models
from support.roundtrip import assert_round_trip
from tfgrad.data.synthetic import SyntheticCatalogueConfig, generate_catalogue
from tfgrad.models.adde import ADDE, AttributeHead
from tfgrad.models.age import AGE, AGEEncoder, AGEGenerator, random_codes
from tfgrad.models.bpr_mf import BPRMF
from tfgrad.models.cbir import CBIR, ConcatComposer
from tfgrad.models.candidate_sampler import CandidateSampler
from tfgrad.models.cgir import CGIR
from tfgrad.models.cgir_no_vae import CGIRWithoutVAE
from tfgrad.models.cnn_f import CNNF
from tfgrad.models.dscmr import DSCMR
from tfgrad.models.dvbpr import DVBPR
from tfgrad.models.entangled_tirg import EntangledTIRG
from tfgrad.models.fm import FM
from tfgrad.models.interaction_vae import InteractionVAE
from tfgrad.models.lsgan import ConditionalDiscriminator, ConditionalGenerator, ConditionalLSGAN
from tfgrad.models.product_type_cnn import ProductTypeCNN
from tfgrad.models.rankers import PopRank, RandomRanker, VisRank, _FixedVectors
from tfgrad.models.sparse_attributes import SparseAttributeEncoder
from tfgrad.models.supervised_encoder import SupervisedEncoder
from tfgrad.models.tirg import TIRG, GatedResidualComposer
from tfgrad.models.tower_baseline import TowerBaseline
from tfgrad.models.towers import ItemInteractionTower, WordAttributeTower
from tfgrad.models.vbpr import VBPR, VisualMF
from tfgrad.models.warp import WARP

NUM_ITEMS, NUM_USERS, DIM, IMAGE_SIZE = 12, 20, 8, 32
# The shared bases (base.py, recommender.py, alternating.py, age.py's _AGENetwork) are no
# models of their own: the leaves' configs carry their arguments.
ABSTRACT_BASES = {"LossTrainedModel", "RetrievalModel", "Recommender", "_AGENetwork",
                  "AlternatingModel", "TrackedModel"}


@pytest.fixture(scope="module")
def data():
    catalogue = generate_catalogue(SyntheticCatalogueConfig(
        num_items=NUM_ITEMS, num_users=NUM_USERS, num_attributes=3,
        mean_interactions_per_user=4.0, seed=0))
    rng = np.random.default_rng(0)
    word_vectors = rng.normal(size=(5, DIM)).astype(np.float32)
    attribute_word_matrix = np.array([[1, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 1]],
                                     np.float32)
    other_words = rng.normal(size=(2, DIM)).astype(np.float32)
    images = rng.uniform(-1, 1, (3, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32)
    return SimpleNamespace(
        catalogue=catalogue, word_vectors=word_vectors,
        attribute_word_matrix=attribute_word_matrix,
        # Attribute strings never trained on: encoded through their words.
        other_words=(other_words, np.array([[1, 1], [0, 1]], np.float32)),
        towers=dict(interactions=catalogue.interactions, num_users=catalogue.num_users,
                    num_items=catalogue.num_items, word_vectors=word_vectors,
                    attribute_word_matrix=attribute_word_matrix, latent_dim=DIM,
                    hidden_dims=(16,), temperature=0.2),
        features=rng.normal(size=(NUM_ITEMS, 6)).astype(np.float32),
        train_items=[np.array([0, 1]), np.array([], np.int64), np.array([3, 4, 5])],
        train_counts=rng.integers(0, 9, NUM_ITEMS),
        interactions=(rng.random((3, NUM_ITEMS)) < 0.3).astype(np.float32),
        triples=dict(reference=tf.constant([0, 3, 7]), attribute=tf.constant([0, 2, 1]),
                     direction=tf.constant([1, -1, 1])),
        users=tf.constant([0, 2, 1]), items=tf.constant([5, 0, 11]),
        vectors=(tf.constant(rng.normal(size=(3, DIM)).astype(np.float32)),
                 tf.constant(rng.normal(size=(3, DIM)).astype(np.float32))),
        images=tf.constant(images))


# ---------------------------------------------------------------- what is compared


def retrieval_outputs(model, data):
    return {"items": model.item_vectors(), "attributes": model.attribute_vectors(),
            "other_attributes": model.attribute_vectors(*data.other_words),
            "alignment_logits": model.alignment_logits(**data.triples)}


def cgir_outputs(model, data):
    forward = model({"interactions": data.interactions, **data.triples})
    return {**retrieval_outputs(model, data), **forward}


def dscmr_outputs(model, data):
    return {**retrieval_outputs(model, data),
            "labels": model.classifier(model.item_vectors())}


def recommender_outputs(model, data):
    return {"users": model.user_vectors(data.users), "items": model.item_vectors(),
            "pairs": model.score_pairs(data.users, data.items)}


def dvbpr_outputs(model, data):
    photos = tf.data.Dataset.from_tensor_slices(data.images).batch(2)
    return {"users": model.user_vectors(data.users), "items": model.item_vectors(photos),
            "pairs": model.score_pairs(data.users, None, data.images)}


def product_type_outputs(model, data):
    return {"logits": model(data.images),
            "features": model.features(tf.data.Dataset.from_tensor_slices(data.images).batch(2))}


def vae_outputs(layer, data):
    return {"forward": layer(data.interactions), "items": layer.item_vectors()}


def sparse_encoder_outputs(layer, data):
    return {"codes": layer(), "words": layer.word_activations(),
            "other": layer.encode(*data.other_words)}


def composer_outputs(layer, data):
    return layer(*data.vectors)


ADDE_INDICATOR = np.array([[1, -1, 0, 0, 0, 0, 0], [0, 0, 0, -1, 0, 1, 0],
                           [0, 0, 0, 0, 0, 0, 0]], np.float32)


def adde_outputs(model, d):
    features = model.embed(d.images)
    return {"features": features, "classes": model.classify(d.images),
            "manipulated": model.manipulate(features, ADDE_INDICATOR)}


def adde_outputs_entangled(model, d):
    features = model.embed(d.images)
    return {"features": features, "manipulated": model.manipulate(features, ADDE_INDICATOR)}


GAN_NOISE = np.random.default_rng(0).uniform(-1, 1, size=(2, 4)).astype(np.float32)
GAN_CATEGORIES = np.array([0, 2], np.int32)
GAN_IMAGES = np.random.default_rng(1).uniform(-1, 1, size=(2, 16, 16, 3)).astype(np.float32)

# ---------------------------------------------------------------- one case per class

# name: (make(data), outputs(model, data), input_shape for build (None: build()))
CASES = {
    "CGIR": (lambda d: CGIR(NUM_ITEMS, d.word_vectors, d.attribute_word_matrix, latent_dim=DIM,
                            hidden_dims=(16,), similarity="dot", temperature=0.3, beta=0.4,
                            dropout_rate=0.25, sparsity_weight=0.05),
             cgir_outputs, None),
    "CGIRWithoutVAE": (lambda d: CGIRWithoutVAE(**d.towers, alignment_weight=0.5,
                                                sparsity_weight=0.2, target_sparsity=0.3),
                       retrieval_outputs, None),
    "TowerBaseline": (lambda d: TowerBaseline(**d.towers), retrieval_outputs, None),
    "CBIR": (lambda d: CBIR(**d.towers, num_negatives=4), retrieval_outputs, None),
    "DSCMR": (lambda d: DSCMR(**d.towers, item_attributes=d.catalogue.item_attributes,
                              label_weight=0.5, invariance_weight=0.2), dscmr_outputs, None),
    "TIRG": (lambda d: TIRG(**d.towers), retrieval_outputs, None),
    "CandidateSampler": (lambda d: CandidateSampler(NUM_ITEMS, 8, "popularity",
                                                    np.arange(NUM_ITEMS), power=0.5, seed=3),
                         lambda layer, d: layer.cumulative, None),
    "InteractionVAE": (lambda d: InteractionVAE(NUM_ITEMS, DIM, (16,), 0.25, "cosine", 0.3),
                       vae_outputs, (None, NUM_ITEMS)),
    "SparseAttributeEncoder": (lambda d: SparseAttributeEncoder(
        d.word_vectors, d.attribute_word_matrix, DIM), sparse_encoder_outputs, None),
    "ItemInteractionTower": (lambda d: ItemInteractionTower(
        d.catalogue.interactions, NUM_USERS, NUM_ITEMS, (16,), DIM, normalize=False),
        lambda layer, d: layer(), None),
    "WordAttributeTower": (lambda d: WordAttributeTower(
        d.word_vectors, d.attribute_word_matrix, DIM),
        lambda layer, d: {"codes": layer(), "other": layer.encode(*d.other_words)}, None),
    "ConcatComposer": (lambda d: ConcatComposer((16,), DIM), composer_outputs, None),
    "GatedResidualComposer": (lambda d: GatedResidualComposer((16,), DIM), composer_outputs,
                              None),
    "CNNF": (lambda d: CNNF(DIM, IMAGE_SIZE, 0.125, dropout_rate=0.3, seed=4),
             lambda layer, d: layer(d.images), None),
    "DVBPR": (lambda d: DVBPR(4, 3, latent_dim=DIM, image_size=IMAGE_SIZE, cnn_width=0.125,
                              dropout_rate=0.3, user_regularization=0.5, num_train_purchases=7,
                              weight_decay=0.01, seed=3), dvbpr_outputs, None),
    "ProductTypeCNN": (lambda d: ProductTypeCNN(3, feature_dim=DIM, image_size=IMAGE_SIZE,
                                                cnn_width=0.125, seed=1),
                       product_type_outputs, None),
    "BPRMF": (lambda d: BPRMF(4, NUM_ITEMS, DIM, regularization=0.01, seed=2),
              recommender_outputs, None),
    "WARP": (lambda d: WARP(4, NUM_ITEMS, DIM, seed=2), recommender_outputs, None),
    "VisualMF": (lambda d: VisualMF(4, NUM_ITEMS, d.features, DIM, 5, seed=2),
                 recommender_outputs, None),
    "VBPR": (lambda d: VBPR(4, NUM_ITEMS, d.features, DIM, 5, regularization=0.01, seed=2),
             recommender_outputs, None),
    "FM": (lambda d: FM(4, NUM_ITEMS, d.features, DIM, seed=2), recommender_outputs, None),
    "_FixedVectors": (lambda d: _FixedVectors(d.features[:4], d.features),
                      recommender_outputs, None),
    "RandomRanker": (lambda d: RandomRanker(4, NUM_ITEMS, dims=DIM, seed=5),
                     recommender_outputs, None),
    "PopRank": (lambda d: PopRank(4, d.train_counts), recommender_outputs, None),
    "VisRank": (lambda d: VisRank(d.features, d.train_items), recommender_outputs, None),
    "ConditionalGenerator": (lambda d: ConditionalGenerator(3, noise_dim=4, image_size=16,
                                                            width=0.0625, seed=1),
                             lambda model, d: model(GAN_NOISE, GAN_CATEGORIES), None),
    "ConditionalDiscriminator": (lambda d: ConditionalDiscriminator(3, image_size=16,
                                                                    width=0.0625, seed=2),
                                 lambda model, d: model(GAN_IMAGES, GAN_CATEGORIES), None),
    "ConditionalLSGAN": (lambda d: ConditionalLSGAN(3, noise_dim=4, image_size=16, width=0.0625,
                                                    seed=3),
                         lambda model, d: {"images": model.generate(GAN_NOISE, GAN_CATEGORIES),
                                           "scores": model.discriminator(GAN_IMAGES,
                                                                         GAN_CATEGORIES)},
                         None),
    "AGEEncoder": (lambda d: AGEEncoder(DIM, IMAGE_SIZE, width=0.0625, seed=1),
                   lambda model, d: model(d.images), None),
    "AGEGenerator": (lambda d: AGEGenerator(DIM, IMAGE_SIZE, width=0.0625, seed=2),
                     lambda model, d: model(random_codes(3, DIM, 0)), None),
    "AGE": (lambda d: AGE(DIM, IMAGE_SIZE, width=0.0625, latent_weight=500.0,
                          generator_steps=1, seed=3),
            lambda model, d: {"codes": model.encode(d.images),
                              "images": model.decode(random_codes(3, DIM, 0))}, None),
    "AttributeHead": (lambda d: AttributeHead(16, 8, 3, seed=2),
                      lambda layer, d: {"chunk": layer(d.features),
                                        "logits": layer.classifier(layer(d.features))},
                      (None, 6)),
    "ADDE": (lambda d: ADDE((3, 4), IMAGE_SIZE, width=0.125, backbone_dim=16, chunk_dim=4,
                            attribute_steps=5, prototype_steps=2, memory_weight=0.3, seed=3),
             adde_outputs, None),
    "EntangledTIRG": (lambda d: EntangledTIRG((3, 4), IMAGE_SIZE, width=0.125, embedding_dim=8,
                                              hidden_dims=(16,), seed=3),
                      adde_outputs_entangled, None),
    "SupervisedEncoder": (lambda d: SupervisedEncoder(4, DIM, IMAGE_SIZE, width=0.0625, seed=4),
                          lambda model, d: {"logits": model(d.images),
                                            "codes": model.encode(d.images)}, None),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_round_trip(name, data, tmp_path):
    make, outputs, input_shape = CASES[name]
    loaded = assert_round_trip(lambda: make(data), lambda model: outputs(model, data), tmp_path,
                               input_shape=input_shape)
    assert type(loaded).__name__ == name


def _model_classes():
    """Every Keras model and layer class defined in tfgrad.models' modules."""
    classes = {}
    for module_info in pkgutil.iter_modules(tfgrad.models.__path__):
        module = importlib.import_module(f"tfgrad.models.{module_info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, keras.layers.Layer) and cls.__module__ == module.__name__:
                classes[cls.__name__] = cls
    return classes


def test_every_model_class_is_registered_and_round_tripped():
    classes = _model_classes()
    assert set(classes) - ABSTRACT_BASES == set(CASES)
    for name in CASES:
        assert keras.saving.get_registered_name(classes[name]) == f"tfgrad>{name}", name
        assert keras.saving.get_registered_object(f"tfgrad>{name}") is classes[name], name
