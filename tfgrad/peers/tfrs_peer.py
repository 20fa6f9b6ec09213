"""tensorflow-recommenders (TFRS 0.7.7, Keras 2) in a process of its own.

  python -m tfgrad.peers.tfrs_peer <task> <directory>

is what `tfgrad.peers.process.run_tfrs` starts: the task reads <directory>/request.json and
the .npy arrays beside it, and writes answer.json (figures, and the names of the .npy arrays it
wrote). Never import this module into a Keras 3 process: it sets TF_USE_LEGACY_KERAS before
TensorFlow first resolves `tf.keras`.

Tasks:
  top_k      a TFRS top-k layer (`BruteForce` or `ScaNN`) over candidates.npy [M, D]; the
             top k of queries.npy [Q, D] → scores.npy [Q, k], ids.npy [Q, k].
  two_tower  the retrieval recipe TFRS users know (`TwoTower`), trained on (query ids,
             candidate id) pairs with in-batch softmax → query_vectors.npy of the evaluation
             queries and candidate_vectors.npy of every candidate, for tfgrad to score.
"""

import os

# TFRS needs Keras 2 as tf.keras; TensorFlow reads this when tf.keras is first resolved.
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_recommenders as tfrs  # noqa: E402

from tfgrad.peers.process import ANSWER_FILE, REQUEST_FILE  # noqa: E402

TOP_K_KINDS = ("brute_force", "scann")


def top_k_layer(kind: str, candidates: np.ndarray, k: int = 10, num_leaves: int = 100,
                num_leaves_to_search: int = 10, reorder_candidates=None):
    """A TFRS top-k layer indexed over candidates [M, D]; the defaults are TFRS's ScaNN
    defaults (100 leaves, 10 searched, no exact reordering)."""
    layers = tfrs.layers.factorized_top_k
    if kind == "brute_force":
        layer = layers.BruteForce(k=k)
    elif kind == "scann":
        layer = layers.ScaNN(k=k, num_leaves=num_leaves,
                             num_leaves_to_search=num_leaves_to_search,
                             num_reordering_candidates=reorder_candidates)
    else:
        raise ValueError(f"TFRS top-k kind must be one of {', '.join(TOP_K_KINDS)}, got {kind!r}")
    return layer.index(tf.constant(candidates, tf.float32))


class TwoTower(tfrs.models.Model):
    """A query tower and a candidate tower trained with `tfrs.tasks.Retrieval` (in-batch
    softmax: each query's own candidate against the batch's others), `FactorizedTopK` over
    every candidate as its metric — TFRS's basic retrieval recipe.

    Args:
      query_vocabularies: [C] sizes of the query's id columns; the query tower sums one
        embedding per column (a user id; or a reference item and a signed attribute).
      num_candidates: M; the candidate tower embeds the candidate id.
      dim: D of both towers.
      candidate_features: [M, F] or None; given, the candidate tower adds a linear map of the
        candidate's features to its id embedding (so a candidate never trained on still gets
        a vector from its features).
      ks: the k of the FactorizedTopK metric.
    """

    def __init__(self, query_vocabularies, num_candidates: int, dim: int,
                 candidate_features=None, ks=(20,)):
        super().__init__()
        self.query_embeddings = [tf.keras.layers.Embedding(size, dim)
                                 for size in query_vocabularies]
        self.candidate_embedding = tf.keras.layers.Embedding(num_candidates, dim)
        self.candidate_features = (None if candidate_features is None else
                                   tf.constant(candidate_features, tf.float32))
        self.feature_map = (None if candidate_features is None else
                            tf.keras.layers.Dense(dim, use_bias=False))
        candidates = (tf.data.Dataset.range(num_candidates).batch(1024)
                      .map(self.candidate_tower))
        self.task = tfrs.tasks.Retrieval(
            metrics=tfrs.metrics.FactorizedTopK(candidates=candidates, ks=ks))

    def query_tower(self, query_ids: tf.Tensor) -> tf.Tensor:
        """[B, C] int ids → [B, D]."""
        return tf.add_n([embedding(query_ids[:, column])
                         for column, embedding in enumerate(self.query_embeddings)])

    def candidate_tower(self, candidate_ids: tf.Tensor) -> tf.Tensor:
        """[B] int ids → [B, D]."""
        vectors = self.candidate_embedding(candidate_ids)
        if self.feature_map is None:
            return vectors
        return vectors + self.feature_map(tf.gather(self.candidate_features, candidate_ids))

    def compute_loss(self, features, training=False) -> tf.Tensor:
        query_ids, candidate_ids = features
        # FactorizedTopK scores every candidate: only when evaluating, as TFRS's guide does.
        return self.task(self.query_tower(query_ids), self.candidate_tower(candidate_ids),
                         compute_metrics=not training)


def train_two_tower(arrays: dict, settings: dict) -> tuple[dict, dict]:
    """Trains `TwoTower` on arrays["train_queries"] [P, C], arrays["train_candidates"] [P]
    for settings["steps"] batches of settings["batch_size"] (Adagrad, TFRS's guide's
    optimizer); answers the vectors of arrays["eval_queries"] [Q, C] and of every candidate,
    and — when arrays["eval_candidates"] [Q] is given — TFRS's own top-k accuracy of them."""
    tf.keras.utils.set_random_seed(settings["seed"])
    model = TwoTower(settings["query_vocabularies"], settings["num_candidates"], settings["dim"],
                     arrays.get("candidate_features"), ks=tuple(settings.get("ks", (20,))))
    model.compile(optimizer=tf.keras.optimizers.Adagrad(settings["learning_rate"]))
    pairs = (arrays["train_queries"].astype(np.int64), arrays["train_candidates"].astype(np.int64))
    dataset = (tf.data.Dataset.from_tensor_slices(pairs)
               .shuffle(len(pairs[1]), seed=settings["seed"], reshuffle_each_iteration=True)
               .repeat().batch(settings["batch_size"]))
    started = time.perf_counter()
    history = model.fit(dataset, steps_per_epoch=settings["steps"], epochs=1, verbose=0)
    figures = {"train_seconds": time.perf_counter() - started,
               "final_loss": float(history.history["loss"][-1])}
    eval_queries = arrays["eval_queries"].astype(np.int64)
    if "eval_candidates" in arrays:
        evaluated = model.evaluate(
            tf.data.Dataset.from_tensor_slices(
                (eval_queries, arrays["eval_candidates"].astype(np.int64))).batch(1024),
            return_dict=True, verbose=0)
        figures.update({name.split("/")[-1]: float(value) for name, value in evaluated.items()
                        if "top_" in name})
    answered = {"query_vectors": model.query_tower(tf.constant(eval_queries)).numpy(),
                "candidate_vectors": model.candidate_tower(
                    tf.range(settings["num_candidates"], dtype=tf.int64)).numpy()}
    return figures, answered


def search_top_k(arrays: dict, settings: dict) -> tuple[dict, dict]:
    layer = top_k_layer(settings["kind"], arrays["candidates"], settings["k"],
                        **settings.get("scann", {}))
    scores, ids = layer(tf.constant(arrays["queries"], tf.float32), k=settings["k"])
    return {}, {"scores": scores.numpy(), "ids": ids.numpy()}


TASKS = {"top_k": search_top_k, "two_tower": train_two_tower}


def main(argv) -> int:
    if len(argv) != 3 or argv[1] not in TASKS:
        print(f"usage: python -m tfgrad.peers.tfrs_peer {{{','.join(TASKS)}}} <directory>",
              file=sys.stderr)
        return 2
    task, directory = argv[1], argv[2]
    with open(os.path.join(directory, REQUEST_FILE)) as f:
        settings = json.load(f)
    arrays = {name[:-len(".npy")]: np.load(os.path.join(directory, name))
              for name in os.listdir(directory) if name.endswith(".npy")}
    figures, answered = TASKS[task](arrays, settings)
    for name, values in answered.items():
        np.save(os.path.join(directory, f"{name}.npy"), values)
    with open(os.path.join(directory, ANSWER_FILE), "w") as f:
        json.dump({**figures, "arrays": sorted(answered)}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
