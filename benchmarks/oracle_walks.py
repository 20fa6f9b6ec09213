"""How gradual can any linear walk be on a trained item table? A ceiling for MGS.

  python benchmarks/oracle_walks.py --work_dir=runs/cgir_synthetic

For a catalogue with known relevance, fits each attribute's least-squares direction in the item
space (from the true relevance of every item: information no model has) and walks along it,
scaled to several lengths, with the same walk code and metrics. Prints MGS, MGS-C, MGS-R of
the trained model's F(t), of these oracle directions, and of random items.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("work_dir", "runs/cgir_synthetic", "A finished tfgrad.train work dir.")
flags.DEFINE_list("scales", ["0.5", "1", "2", "4"], "Lengths of the oracle directions.")


def main(argv):
    del argv
    from tfgrad import evaluation, metrics
    from tfgrad.core import run
    from tfgrad.retrieval.index import BruteForceIndex
    from tfgrad.retrieval.walk import Walker
    from tfgrad.spaces import LinearMove
    from tfgrad.systems import cgir

    config = run.read_run_config(cgir.SYSTEM, FLAGS.work_dir)
    if config is None:
        raise FileNotFoundError(f"{FLAGS.work_dir!r} holds no {run.CONFIG_FILE}: not a "
                                f"tfgrad.train work dir")
    data = cgir.prepare_data(config)
    model = cgir.build_model(config, data)
    model.load_weights(os.path.join(FLAGS.work_dir, run.MODEL_FILE))
    item_vectors = np.asarray(model.item_vectors())
    relevance = data.catalogue.relevance
    queries = evaluation.sample_queries(data.test_triples, config.eval.max_queries,
                                        config.train.seed)

    def gradual(attribute_vectors):
        walker = Walker(item_vectors, LinearMove(attribute_vectors),
                        BruteForceIndex(item_vectors))
        walks = evaluation.run_walks(walker, queries, data.catalogue.num_attributes,
                                     config.eval.walk_steps, config.eval.step_size,
                                     config.eval.distinct)
        return metrics.gradual_scores(relevance[walks], queries.attribute, queries.direction)

    design = np.c_[item_vectors, np.ones(len(item_vectors))]
    solution = np.linalg.lstsq(design, relevance, rcond=None)[0]  # [D + 1, T]
    coefficients = solution[:-1].T  # [T, D]
    fitted = design @ solution
    r_squared = 1 - ((fitted - relevance) ** 2).mean(0) / relevance.var(0)
    directions = coefficients / np.linalg.norm(coefficients, axis=1, keepdims=True)
    attribute_vectors = np.asarray(model.attribute_vectors())
    cosine = (directions * attribute_vectors).sum(1) / np.maximum(
        np.linalg.norm(attribute_vectors, axis=1), 1e-12)

    print(f"{len(queries)} walks of {config.eval.walk_steps} steps on {FLAGS.work_dir}")
    print(f"relevance linearly decodable from the item table: R² mean {r_squared.mean():.3f}")
    print(f"cosine(F(t), oracle direction): mean {cosine.mean():.3f}, "
          f"min {cosine.min():.3f}, max {cosine.max():.3f}")
    print(f"{'walk':<24} {'MGS':>7} {'MGS-C':>7} {'MGS-R':>7}")
    rows = {"model F(t)": gradual(attribute_vectors)}
    for scale in (float(s) for s in FLAGS.scales):
        rows[f"oracle, length {scale:g}"] = gradual(directions * scale)
    rows["random items"] = evaluation.random_baseline(
        data.catalogue, data.test_triples, config.eval.walk_steps, config.eval.max_queries,
        config.train.seed)
    for name, row in rows.items():
        print(f"{name:<24} {row['mgs']:>7.4f} {row['mgs_c']:>7.4f} {row['mgs_r']:>7.4f}")


if __name__ == "__main__":
    app.run(main)
