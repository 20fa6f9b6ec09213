"""A synthetic shop catalogue with known ground truth, generated from a seed in seconds.

Every item has a graded relevance r_{i,t} in [0, 1] to each of T named attributes (real English
words, so GloVe has vectors for them), a few nuisance latent factors, a product type and a
popularity. As in a real shop, items come in families (one design in several variants, like an
H&M product code's articles): members share the family's relevance to most attributes (up to
small noise), nuisance factors and product type, and differ freely in the family's few variant
attributes. That is what makes "the same, but more floral" answerable at all; with
`family_size=1` every item is independent. Binary tags are a_{i,t} = 1[r_{i,t} > 0.5]. Users have preferences over all of an
item's factors; each user's interactions are a sample without replacement from a softmax over
their affinity to every item (Gumbel top-k), so interactions carry the attributes implicitly,
exactly the weak signal CGIR's item table has to recover. Because r is known, MGS is exact.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfgrad.data.catalogue import Catalogue

# Attribute words a shopper would use; all are in GloVe 6B's vocabulary.
ATTRIBUTE_WORDS = (
    "floral", "formal", "dark", "striped", "sporty", "vintage", "bright", "casual",
    "elegant", "warm", "loose", "shiny", "soft", "heavy", "colorful", "minimal",
    "romantic", "rugged", "classic", "modern", "playful", "luxurious", "comfortable", "bold",
)
PRODUCT_TYPES = (
    "dress", "shirt", "skirt", "jacket", "coat", "sweater", "trousers", "blouse", "jeans", "scarf",
)


@dataclasses.dataclass(frozen=True)
class SyntheticCatalogueConfig:
    """Sizes and noise of the synthetic catalogue.

    Attributes:
      num_items: M.
      num_users: N.
      num_attributes: T, the first T of ATTRIBUTE_WORDS.
      num_nuisance_factors: latent factors users care about that no attribute names.
      family_size: mean items per family (Poisson, at least 1); 1 makes every item its own.
      variant_attributes: attributes in which a family's members differ freely (at most T).
      family_noise: standard deviation of members' relevance around the family's in the
        other attributes.
      mean_interactions_per_user: the mean of the (Poisson, at least 5) interaction counts.
      preference_temperature: softmax temperature of users' choices; lower is more deterministic.
      seed: everything is a function of this seed.
    """

    num_items: int = 3000
    num_users: int = 4000
    num_attributes: int = 12
    num_nuisance_factors: int = 4
    family_size: int = 8
    variant_attributes: int = 3
    family_noise: float = 0.05
    mean_interactions_per_user: float = 30.0
    preference_temperature: float = 0.5
    # --catalogue_seed: --seed is the training seed.
    seed: int = dataclasses.field(default=0, metadata={"flag": "catalogue_seed"})

    def __post_init__(self):
        if not 1 <= self.num_attributes <= len(ATTRIBUTE_WORDS):
            raise ValueError(
                f"num_attributes must be in 1..{len(ATTRIBUTE_WORDS)}, got {self.num_attributes}")
        for field in ("num_items", "num_users", "mean_interactions_per_user"):
            if getattr(self, field) <= 0:
                raise ValueError(f"{field} must be positive, got {getattr(self, field)}")
        if self.num_items < 10:
            raise ValueError(f"num_items must be at least 10, got {self.num_items}")
        if self.family_size < 1:
            raise ValueError(f"family_size must be at least 1, got {self.family_size}")
        if self.variant_attributes < 0:
            raise ValueError(f"variant_attributes must be >= 0, got {self.variant_attributes}")
        if self.family_noise < 0:
            raise ValueError(f"family_noise must be >= 0, got {self.family_noise}")
        if self.num_nuisance_factors < 0:
            raise ValueError(
                f"num_nuisance_factors must be >= 0, got {self.num_nuisance_factors}")
        if self.preference_temperature <= 0:
            raise ValueError(
                f"preference_temperature must be positive, got {self.preference_temperature}")


def generate_catalogue(config: SyntheticCatalogueConfig = SyntheticCatalogueConfig()
                       ) -> Catalogue:
    """Generates the catalogue of `config`; the same config always gives the same catalogue.

    The catalogue keeps each item's family (`item_families`): a family's members are near
    duplicates, which a held-out split must keep apart from training.
    """
    rng = np.random.default_rng(config.seed)
    num_items, num_attributes = config.num_items, config.num_attributes

    family = _family_of_items(num_items, config.family_size, rng)
    num_families = family.max() + 1
    family_relevance = rng.uniform(0.0, 1.0, size=(num_families, num_attributes))
    relevance = np.clip(family_relevance[family] + rng.normal(
        scale=config.family_noise, size=(num_items, num_attributes)), 0.0, 1.0)
    # Each family's variant attributes are drawn afresh for every member.
    variant_keys = rng.random((num_families, num_attributes))
    is_variant = np.argsort(variant_keys, axis=1) < config.variant_attributes
    if config.family_size == 1:
        is_variant[:] = True
    fresh = rng.uniform(0.0, 1.0, size=(num_items, num_attributes))
    relevance = np.where(is_variant[family], fresh, relevance).astype(np.float32)
    nuisance = (rng.normal(size=(num_families, config.num_nuisance_factors))[family]
                + rng.normal(scale=config.family_noise,
                             size=(num_items, config.num_nuisance_factors))).astype(np.float32)
    product_type = rng.integers(len(PRODUCT_TYPES), size=num_families)[family]
    popularity = rng.normal(scale=0.5, size=num_items).astype(np.float32)
    item_factors = np.concatenate(
        [2.0 * relevance - 1.0, nuisance, np.eye(len(PRODUCT_TYPES), dtype=np.float32)[product_type]],
        axis=1)

    num_factors = item_factors.shape[1]
    preferences = rng.normal(size=(config.num_users, num_factors)).astype(np.float32)
    preferences /= np.sqrt(num_factors / 4.0)  # affinities of order 1 whatever T is
    counts = np.clip(rng.poisson(config.mean_interactions_per_user, size=config.num_users),
                     5, num_items // 2)

    users, items = [], []
    chunk = 512  # bounds the [chunk, M] affinity matrix in memory
    for start in range(0, config.num_users, chunk):
        stop = min(start + chunk, config.num_users)
        logits = (preferences[start:stop] @ item_factors.T + popularity) / config.preference_temperature
        # Gumbel top-k: sampling without replacement from softmax(logits).
        perturbed = logits + rng.gumbel(size=logits.shape).astype(np.float32)
        ranked = np.argsort(-perturbed, axis=1)
        for row, user in enumerate(range(start, stop)):
            chosen = ranked[row, :counts[user]]
            users.append(np.full(len(chosen), user))
            items.append(chosen)

    names = np.array([_item_name(index, relevance[index], product_type[index])
                      for index in range(num_items)])
    return Catalogue(
        name="synthetic",
        item_ids=np.array([f"SKU{index:06d}" for index in range(num_items)]),
        item_names=names,
        attributes=ATTRIBUTE_WORDS[:num_attributes],
        item_attributes=(relevance > 0.5).astype(np.float32),
        interactions=np.stack([np.concatenate(users), np.concatenate(items)], axis=1).astype(np.int64),
        num_users=config.num_users,
        relevance=relevance,
        item_families=family,
    )


def _family_of_items(num_items: int, family_size: int, rng: np.random.Generator) -> np.ndarray:
    """[M] family index of each item: consecutive runs of Poisson(family_size) ≥ 1 items."""
    if family_size == 1:
        return np.arange(num_items)
    sizes = np.maximum(rng.poisson(family_size, size=num_items), 1)
    return np.repeat(np.arange(num_items), sizes)[:num_items]


def _item_name(index: int, relevance: np.ndarray, product_type: int) -> str:
    """E.g. "floral vintage dress 0042": its two most relevant attributes, if clearly present."""
    top = [t for t in np.argsort(-relevance)[:2] if relevance[t] > 0.75]
    words = [ATTRIBUTE_WORDS[t] for t in top] + [PRODUCT_TYPES[product_type], f"{index:04d}"]
    return " ".join(words)
