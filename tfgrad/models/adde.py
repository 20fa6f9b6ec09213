"""ADDE (ADDE.md; seed 002), as the authors' code (amzn/fashion-attribute-disentanglement) trains
it: an attribute-driven disentangled encoder with a memory block of prototypes, for "this item,
but attribute a = v".

    f(x)      = [f_1(x); …; f_A(x)],  f_a = W2_a ReLU(W1_a φ(x))   (one subspace per attribute)
    logits_a  = C_a f_a(x)                                        (one classifier per attribute)
    M         : a bias-free linear map ΣV → A·d; column block a·d … (a+1)·d is attribute a's
                subspace, row v of attribute a its prototype p_{a,v}
    f′        = f(x_ref) + M (onehot(new) − onehot(old)) = f(x_ref) − p_old + p_new
    search    : ‖normalize(f′) − normalize(f(x))‖ over the catalogue (exact L2)

φ is tfgrad's CNN-F trained from scratch (the authors start from ImageNet AlexNet's fc7, which
is not available offline). One `train_step` runs the authors' three stages by step:

  1. steps < attribute_steps: Σ_a CE(logits_a(x_ref), y_a) (missing labels ignored);
  2. during the last `prototype_steps` of stage 1, every prototype p_{a,v} accumulates the
     mean of f_a over the (inference-mode) reference photos with value v — the authors average
     100 random training images per value; ours averages every one seen in that window. At the
     switch the memory becomes those means, zero outside their blocks;
  3. then, on (reference, positive with the whole target label vector, random negative):

     L = w_ce Σ_a [CE(ref) + CE(pos) + CE(neg) + CE(C_a f′_a, target_a)]
       + w_label · semi-hard triplet([n(f_ref); n(f′); n(f_neg)], labels [ref; target; neg])
       + w_manip · max(0, ‖n(f′) − n(f_pos)‖ − ‖n(f′) − n(f_neg)‖ + margin)
       + w_cons · [l1(M onehot(target), f′) + l1(M onehot(ref), f_ref) + l1(M onehot(neg), f_neg)]
       + w_mem · Σ |M ∘ (1 − B)|            (n = L2 normalisation, B the block mask)

     with the authors' weights 0.2, 1, 1, 1, 0.4 and margins 0.5.

Where the paper's text differs (ADDE.md): it writes the label and consistency terms as triplet
losses; the code uses a semi-hard triplet loss over label vectors and an L1 consistency loss, and
this module follows the code.

The memory matrix is `prototypes` (set at the switch, not trained) + `memory_delta` (trained from
zero in stage 3): M is trainable from the prototype initialisation on, as the authors' memory
layer is after `init_mem`, and stage 1 cannot move it (its gradient there is zero).
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from tfgrad import losses
from tfgrad.models.cnn_f import CNNF
from tfgrad.models.tracked import TrackedModel


def block_mask(num_values: Sequence[int], chunk_dim: int) -> np.ndarray:
    """[ΣV, A·d] float32: 1 where value rows meet their own attribute's columns."""
    mask = np.zeros((int(np.sum(num_values)), len(num_values) * chunk_dim), np.float32)
    row = 0
    for attribute, count in enumerate(num_values):
        mask[row:row + count, attribute * chunk_dim:(attribute + 1) * chunk_dim] = 1.0
        row += count
    return mask


def one_hot_blocks(labels, num_values: Sequence[int]) -> tf.Tensor:
    """[B, A] value indices (−1 missing) -> [B, ΣV] float32 concatenated one-hots (a missing
    attribute's block all zeros); the TensorFlow twin of `data.attributes.one_hot_labels`."""
    labels = tf.convert_to_tensor(labels)
    return tf.concat([tf.one_hot(labels[:, attribute], count, dtype=tf.float32)
                      for attribute, count in enumerate(num_values)], axis=1)


@keras.saving.register_keras_serializable(package="tfgrad")
class AttributeHead(keras.layers.Layer):
    """φ(x) -> f_a(x) (two layers, ReLU between) and its classifier's logits."""

    def __init__(self, hidden_dim: int, chunk_dim: int, num_values: int, seed: int = 0,
                 **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim, self.chunk_dim, self.num_values, self.seed = (
            hidden_dim, chunk_dim, num_values, seed)
        init = lambda offset: keras.initializers.GlorotUniform(seed=seed + offset)  # noqa: E731
        self.hidden = keras.layers.Dense(hidden_dim, activation="relu",
                                         kernel_initializer=init(0), name="hidden")
        self.embedding = keras.layers.Dense(chunk_dim, kernel_initializer=init(1),
                                            name="embedding")
        self.classifier = keras.layers.Dense(num_values, kernel_initializer=init(2),
                                             name="classifier")

    def build(self, input_shape):
        self.hidden.build(input_shape)
        self.embedding.build((None, self.hidden_dim))
        self.classifier.build((None, self.chunk_dim))
        self.built = True

    def call(self, features):
        return self.embedding(self.hidden(features))

    def get_config(self):
        return {**super().get_config(), "hidden_dim": self.hidden_dim,
                "chunk_dim": self.chunk_dim, "num_values": self.num_values, "seed": self.seed}


@keras.saving.register_keras_serializable(package="tfgrad")
class ADDE(TrackedModel):
    """The disentangled encoder, its classifiers and its memory block (module docstring).

    Batches: {"reference", "positive", "negative": [B, S, S, 3] images in [−1, 1],
    "reference_labels", "target_labels", "negative_labels": [B, A] int (−1 missing)}.

    Args:
      num_values: values per attribute (V_1 … V_A).
      image_size: S.
      width: CNN-F's channel multiplier.
      backbone_dim: φ's output units (the authors' AlexNet fc7: 4096).
      chunk_dim: d, each attribute's subspace (the authors' 340); heads' hidden units too.
      attribute_steps: stage 1's length; stage 3 starts there.
      prototype_steps: the last steps of stage 1 the prototypes average over.
      classification_weight, label_triplet_weight, manipulation_triplet_weight,
      consistency_weight, memory_weight: the stage-3 weights (0 leaves a term out).
      margin: both triplet losses' margin.
      dropout_rate: CNN-F's dropout.
      seed: initialisers.
    """

    TRACKED = ("loss", "classification", "label_triplet", "manipulation_triplet",
               "consistency", "memory_off_block", "accuracy")

    def __init__(self, num_values: Sequence[int], image_size: int = 64, width: float = 0.25,
                 backbone_dim: int = 1024, chunk_dim: int = 64, attribute_steps: int = 500,
                 prototype_steps: int = 100, classification_weight: float = 0.2,
                 label_triplet_weight: float = 1.0, manipulation_triplet_weight: float = 1.0,
                 consistency_weight: float = 1.0, memory_weight: float = 0.4,
                 margin: float = 0.5, dropout_rate: float = 0.5, seed: int = 0, **kwargs):
        super().__init__(seed, **kwargs)
        if not num_values or min(num_values) < 2:
            raise ValueError(f"every attribute needs at least 2 values, got {list(num_values)}")
        if not 0 < prototype_steps <= attribute_steps:
            raise ValueError(f"prototype_steps must be in 1..attribute_steps "
                             f"({attribute_steps}), got {prototype_steps}")
        self.num_values = tuple(int(count) for count in num_values)
        self.image_size, self.width, self.backbone_dim = image_size, width, backbone_dim
        self.chunk_dim = chunk_dim
        self.attribute_steps, self.prototype_steps = attribute_steps, prototype_steps
        self.classification_weight = classification_weight
        self.label_triplet_weight = label_triplet_weight
        self.manipulation_triplet_weight = manipulation_triplet_weight
        self.consistency_weight = consistency_weight
        self.memory_weight = memory_weight
        self.margin, self.dropout_rate, self.seed = margin, dropout_rate, seed
        # Each attribute's accuracy on the reference photos, beside the overall one.
        self.trackers.update({f"accuracy_{position}": keras.metrics.Mean(
            name=f"accuracy_{position}") for position in range(len(self.num_values))})
        self.backbone = CNNF(backbone_dim, image_size, width, dropout_rate, seed=seed,
                             name="backbone")
        self.heads = [AttributeHead(chunk_dim, chunk_dim, count, seed + 10 * (position + 1),
                                    name=f"head_{position}")
                      for position, count in enumerate(self.num_values)]
        self.mask = tf.constant(block_mask(self.num_values, chunk_dim))

    @property
    def num_attributes(self) -> int:
        return len(self.num_values)

    @property
    def dim(self) -> int:
        return self.num_attributes * self.chunk_dim

    def build(self, input_shape=None):
        self.backbone.build()
        for head in self.heads:
            head.build((None, self.backbone_dim))
        shape = (sum(self.num_values), self.dim)
        self.memory_delta = self.add_weight(shape=shape, initializer="zeros",
                                            name="memory_delta")
        # Stage 2's running sums over the global batches.
        self.prototype_sums = self.add_weight(shape=shape, initializer="zeros",
                                              trainable=False, aggregation="only_first_replica",
                                              name="prototype_sums")
        self.prototype_counts = self.add_weight(shape=(shape[0],), initializer="zeros",
                                                trainable=False,
                                                aggregation="only_first_replica",
                                                name="prototype_counts")
        self.built = True

    # The representation and the memory.
    def features_and_logits(self, images, training=False) -> tuple[tf.Tensor, list]:
        """([B, A·d] f(x), per attribute [B, V_a] logits)."""
        backbone = self.backbone(images, training=training)
        chunks = [head(backbone) for head in self.heads]
        return tf.concat(chunks, axis=1), [head.classifier(chunk)
                                           for head, chunk in zip(self.heads, chunks)]

    def call(self, images, training=False):
        return self.features_and_logits(images, training)[0]

    def embed(self, images) -> tf.Tensor:
        """[B, S, S, 3] -> [B, A·d] f(x), unnormalised (inference mode)."""
        return self(images, training=False)

    def classify(self, images) -> tf.Tensor:
        """[B, S, S, 3] -> [B, A] the predicted value of every attribute."""
        _, logits = self.features_and_logits(images, training=False)
        return tf.stack([tf.argmax(values, axis=1) for values in logits], axis=1)

    def value_probabilities(self, features) -> tf.Tensor:
        """[B, A·d] f → [B, ΣV] each attribute's softmax over its values, from its own block
        of f (the levels gradual walks decode with)."""
        chunks = tf.split(features, [self.chunk_dim] * len(self.heads), axis=1)
        return tf.concat([tf.nn.softmax(head.classifier(chunk), axis=1)
                          for head, chunk in zip(self.heads, chunks)], axis=1)

    def prototypes(self) -> tf.Tensor:
        """[ΣV, A·d] the prototype means (zero outside their blocks; zero before stage 2)."""
        means = tf.math.divide_no_nan(self.prototype_sums,
                                      self.prototype_counts[:, None])
        return means * self.mask

    def memory(self) -> tf.Tensor:
        """[ΣV, A·d] M: the prototypes plus what stage 3 learnt."""
        return self.prototypes() + self.memory_delta

    def memory_of(self, one_hots) -> tf.Tensor:
        """[B, ΣV] (one-hots or ±1 indicators) -> [B, A·d] through M."""
        return tf.matmul(one_hots, self.memory())

    def manipulate(self, features, indicator) -> tf.Tensor:
        """f′ = f + M·indicator (+1 new value, −1 old), unnormalised."""
        return features + self.memory_of(indicator)

    def off_block_mass(self) -> tf.Tensor:
        """Σ|M ∘ (1 − B)| / Σ|M|: the share of the memory outside its blocks."""
        memory = self.memory()
        return tf.math.divide_no_nan(losses.off_block_l1(memory, self.mask),
                                     tf.reduce_sum(tf.abs(memory)))

    # Training.
    def _classification(self, logits, labels) -> tf.Tensor:
        return tf.add_n([losses.masked_cross_entropy(labels[:, attribute], values)
                         for attribute, values in enumerate(logits)])

    def _accuracies(self, logits, labels) -> dict[str, tf.Tensor]:
        """{"accuracy": over every known label, "accuracy_<a>": attribute a's} (replica
        shares)."""
        known = tf.cast(labels >= 0, tf.float32)
        correct = tf.stack([tf.cast(tf.equal(tf.argmax(values, axis=1), labels[:, attribute]),
                                    tf.float32) for attribute, values in enumerate(logits)],
                           axis=1) * known
        replicas = self.replicas()
        shares = {"accuracy": tf.math.divide_no_nan(tf.reduce_sum(correct),
                                                    tf.reduce_sum(known)) / replicas}
        per_attribute = tf.math.divide_no_nan(tf.reduce_sum(correct, axis=0),
                                              tf.reduce_sum(known, axis=0)) / replicas
        for position in range(self.num_attributes):
            shares[f"accuracy_{position}"] = per_attribute[position]
        return shares

    def attribute_losses(self, batch) -> dict[str, tf.Tensor]:
        """Stage 1: the reference photos' cross-entropy (its replica share)."""
        _, logits = self.features_and_logits(batch["reference"], training=True)
        classification = self._classification(logits, batch["reference_labels"])
        zero = tf.zeros((), tf.float32)
        return {"loss": classification / self.replicas(),
                "classification": classification / self.replicas(),
                "label_triplet": zero, "manipulation_triplet": zero, "consistency": zero,
                "memory_off_block": zero,
                **self._accuracies(logits, batch["reference_labels"])}

    def manipulation_losses(self, batch) -> dict[str, tf.Tensor]:
        """Stage 3's terms (replica shares; the batch statistics — cross-entropies, the
        semi-hard loss — are each replica's, divided by the replicas)."""
        replicas = self.replicas()
        reference_labels = batch["reference_labels"]
        target_labels, negative_labels = batch["target_labels"], batch["negative_labels"]
        f_ref, logits_ref = self.features_and_logits(batch["reference"], training=True)
        f_pos, logits_pos = self.features_and_logits(batch["positive"], training=True)
        f_neg, logits_neg = self.features_and_logits(batch["negative"], training=True)
        indicator = (one_hot_blocks(target_labels, self.num_values)
                     - one_hot_blocks(reference_labels, self.num_values))
        f_manip = self.manipulate(f_ref, indicator)
        logits_manip = [head.classifier(chunk) for head, chunk in zip(
            self.heads, tf.split(f_manip, self.num_attributes, axis=1))]
        classification = (self._classification(logits_ref, reference_labels)
                          + self._classification(logits_pos, target_labels)
                          + self._classification(logits_neg, negative_labels)
                          + self._classification(logits_manip, target_labels))
        normalise = lambda f: tf.math.l2_normalize(f, axis=1)  # noqa: E731
        label_triplet = losses.semi_hard_triplet_loss(
            tf.concat([reference_labels, target_labels, negative_labels], axis=0),
            tf.concat([normalise(f_ref), normalise(f_manip), normalise(f_neg)], axis=0),
            self.margin)
        manipulation_triplet = self._average(losses.triplet_margin_loss(
            normalise(f_manip), normalise(f_pos), normalise(f_neg), self.margin))
        consistency = self._average(
            losses.consistency_l1(self.memory_of(one_hot_blocks(target_labels,
                                                                self.num_values)), f_manip)
            + losses.consistency_l1(self.memory_of(one_hot_blocks(reference_labels,
                                                                  self.num_values)), f_ref)
            + losses.consistency_l1(self.memory_of(one_hot_blocks(negative_labels,
                                                                  self.num_values)), f_neg))
        off_block = losses.off_block_l1(self.memory(), self.mask) / replicas
        classification = classification / replicas
        label_triplet = label_triplet / replicas
        loss = (self.classification_weight * classification
                + self.label_triplet_weight * label_triplet
                + self.manipulation_triplet_weight * manipulation_triplet
                + self.consistency_weight * consistency + self.memory_weight * off_block)
        return {"loss": loss, "classification": classification, "label_triplet": label_triplet,
                "manipulation_triplet": manipulation_triplet, "consistency": consistency,
                "memory_off_block": off_block,
                **self._accuracies(logits_ref, reference_labels)}

    def _prototype_increments(self, batch) -> tuple[tf.Tensor, tf.Tensor]:
        """(Σ over the batch of onehot ⊗ f, per-value counts) of the inference-mode chunks."""
        one_hots = one_hot_blocks(batch["reference_labels"], self.num_values)
        features = self(batch["reference"], training=False)
        return tf.matmul(one_hots, features, transpose_a=True), tf.reduce_sum(one_hots, axis=0)

    def train_step(self, batch):
        step = self.optimizer.iterations
        averaging = tf.logical_and(step >= self.attribute_steps - self.prototype_steps,
                                   step < self.attribute_steps)
        shape = (sum(self.num_values), self.dim)
        sums, counts = tf.cond(
            averaging, lambda: self._prototype_increments(batch),
            lambda: (tf.zeros(shape), tf.zeros(shape[:1])))
        # Every replica adds the global sums (an all-reduce outside the cond, which cannot
        # hold a cross-replica step); replica 0's update is the variable's.
        sums, counts = tf.distribute.get_replica_context().all_reduce("sum", [sums, counts])
        self.prototype_sums.assign_add(sums)
        self.prototype_counts.assign_add(counts)
        with tf.GradientTape() as tape:
            terms = tf.cond(step >= self.attribute_steps,
                            lambda: self.manipulation_losses(batch),
                            lambda: self.attribute_losses(batch))
            scaled = self.optimizer.scale_loss(terms["loss"])
        weights = self.trainable_weights
        gradients = tape.gradient(scaled, weights)
        # Stage 1 leaves the memory out of its graph: its gradient is None, not zero.
        self.optimizer.apply_gradients([
            (tf.zeros_like(weight) if gradient is None else gradient, weight)
            for gradient, weight in zip(gradients, weights)])
        return self._track(terms)

    def get_config(self):
        return {**super().get_config(), "num_values": list(self.num_values),
                "image_size": self.image_size, "width": self.width,
                "backbone_dim": self.backbone_dim, "chunk_dim": self.chunk_dim,
                "attribute_steps": self.attribute_steps,
                "prototype_steps": self.prototype_steps,
                "classification_weight": self.classification_weight,
                "label_triplet_weight": self.label_triplet_weight,
                "manipulation_triplet_weight": self.manipulation_triplet_weight,
                "consistency_weight": self.consistency_weight,
                "memory_weight": self.memory_weight, "margin": self.margin,
                "dropout_rate": self.dropout_rate, "seed": self.seed}
