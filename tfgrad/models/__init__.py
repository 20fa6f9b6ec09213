"""tfgrad's models, one per module: the retrieval models, all `RetrievalModel`s walked by the
same code, and the recommenders (DVBPR and its baselines), all `Recommender`s.

`create_model` builds the retrieval model a `ModelConfig` names (CGIR.md, "Baselines and
ablations"); `tfgrad.recommendation.create_recommender` builds the recommenders.
"""

from __future__ import annotations

from tfgrad.config import ModelConfig
from tfgrad.data.catalogue import Catalogue
from tfgrad.data.word_vectors import AttributeWordVectors
from tfgrad.models.base import RetrievalModel
from tfgrad.models.cbir import CBIR
from tfgrad.models.cgir import CGIR
from tfgrad.models.cgir_no_vae import CGIRWithoutVAE
from tfgrad.models.dscmr import DSCMR
from tfgrad.models.tirg import TIRG

DISPLAY_NAMES = {"cgir": "CGIR", "cgir_no_sparse": "CGIR w/o Sparse",
                 "cgir_no_vae": "CGIR w/o VAE", "cbir": "CBIR", "dscmr": "DSCMR", "tirg": "TIRG",
                 "rand": "RAND", "poprank": "PopRank", "bprmf": "BPR-MF", "warp": "WARP",
                 "fm": "FM", "visrank": "VisRank", "vbpr": "VBPR", "dvbpr": "DVBPR"}


def create_model(config: ModelConfig, catalogue: Catalogue,
                 word_vectors: AttributeWordVectors) -> RetrievalModel:
    """The built (untrained) model of `config.kind` for `catalogue`."""
    words = dict(word_vectors=word_vectors.word_vectors,
                 attribute_word_matrix=word_vectors.attribute_word_matrix)
    towers = dict(interactions=catalogue.interactions, num_users=catalogue.num_users,
                  num_items=catalogue.num_items, **words, latent_dim=config.latent_dim,
                  hidden_dims=config.hidden_dims, temperature=config.temperature)
    cgir = dict(num_items=catalogue.num_items, **words, latent_dim=config.latent_dim,
                hidden_dims=config.hidden_dims, dropout_rate=config.dropout_rate,
                similarity=config.similarity, temperature=config.temperature, beta=config.beta,
                alignment_weight=config.alignment_weight,
                sparsity_weight=config.sparsity_weight,
                target_sparsity=config.target_sparsity)
    if config.kind == "cgir":
        model = CGIR(**cgir)
    elif config.kind == "cgir_no_sparse":
        model = CGIR(**{**cgir, "sparsity_weight": 0.0})
    elif config.kind == "cgir_no_vae":
        model = CGIRWithoutVAE(**towers, alignment_weight=config.alignment_weight,
                               sparsity_weight=config.sparsity_weight,
                               target_sparsity=config.target_sparsity)
    elif config.kind == "cbir":
        model = CBIR(**towers, num_negatives=config.num_negatives)
    elif config.kind == "dscmr":
        model = DSCMR(**towers, item_attributes=catalogue.item_attributes,
                      label_weight=config.label_weight,
                      invariance_weight=config.invariance_weight)
    elif config.kind == "tirg":
        model = TIRG(**towers)
    else:
        raise ValueError(f"unknown model {config.kind!r}")
    model.build()
    return model


__all__ = ["RetrievalModel", "CGIR", "CGIRWithoutVAE", "CBIR", "DSCMR", "TIRG", "create_model",
           "DISPLAY_NAMES"]
