"""How well does a finished CGIR run know its items' levels, and what do gradual walks trade?

  python benchmarks/gradual_tradeoff.py --work_dir=runs/cgir_synthetic \
      --output=docs/results/gradual_tradeoff_synthetic.json

Needs a catalogue with known relevance (synthetic). Two parts, both on data the test never
sees:
1. Level estimators: Spearman's ρ with the true relevance on held-out items (20%, seeded),
   each estimator fitted on the other items only — the projection on F(t), a pairwise
   logistic head on the training triples whose two items are both fitted ones (target more
   t than reference), the pointwise level head `tfgrad.levels` ships, and a least-squares
   direction fitted to the true relevance itself (a ceiling no model has).
2. The gradual decoder's weights on *validation* queries (training triples' queries that are
   not test queries): MGS-C and the walk shape columns for every setting of a grid, with the
   shipped estimated levels and with the true relevance (the ceiling), beside greedy; the
   setting with the best MGS-C whose others' drift stays at or below greedy's is marked.
3. How good levels must be: the chosen setting fed the true relevance plus Gaussian noise
   of several sizes (quantiles of it), MGS-C against the noisy levels' ρ.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("work_dir", "runs/cgir_synthetic", "A finished tfgrad.train work dir.")
flags.DEFINE_integer("queries", 1000, "Validation walk queries.")
flags.DEFINE_list("candidates", ["32", "64"], "K values of the grid.")
flags.DEFINE_list("evenness", ["0", "0.1", "1", "10"], "λ_even values of the grid.")
flags.DEFINE_list("drift", ["0", "1", "4", "16"], "λ_drift values of the grid.")
flags.DEFINE_list("jitter", ["0", "4"], "λ_jitter values of the grid.")
flags.DEFINE_list("noise", ["0.05", "0.1", "0.15", "0.2"], "Noise sizes of part 3.")
flags.DEFINE_string("output", None, "Also write every figure here (JSON).")


def pairwise_head_scores(item_vectors, triples, num_attributes, steps=300):
    """Scores of a per-attribute linear head trained with a pairwise logistic loss on
    triples: σ(y·⟨w_t, h_target − h_reference⟩) — the candidate the shipped head beat."""
    import tensorflow as tf

    differences = tf.constant(item_vectors[triples.target] - item_vectors[triples.reference])
    attributes = tf.constant(triples.attribute)
    signs = tf.constant(triples.direction.astype(np.float32))
    weights = tf.Variable(tf.zeros([num_attributes, item_vectors.shape[1]]))
    optimizer = tf.keras.optimizers.Adam(0.05)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            logits = tf.reduce_sum(differences * tf.gather(weights, attributes), axis=1)
            loss = (tf.reduce_mean(tf.nn.softplus(-signs * logits))
                    + 1e-3 * tf.reduce_sum(tf.square(weights)))
        optimizer.apply_gradients([(tape.gradient(loss, weights), weights)])

    for _ in range(steps):
        step()
    return item_vectors @ weights.numpy().T


def level_estimators(space, data, seed):
    from tfgrad import levels, metrics

    catalogue = data.catalogue
    vectors, truth = space.item_vectors, catalogue.relevance
    held_out = np.random.default_rng(seed).random(catalogue.num_items) < 0.2
    fitted = np.flatnonzero(~held_out)
    train = data.train_triples
    both_fitted = np.flatnonzero(~held_out[train.reference] & ~held_out[train.target])
    design = np.c_[vectors, np.ones(len(vectors))]
    solution = np.linalg.lstsq(design[fitted], truth[fitted], rcond=None)[0]
    estimates = {
        "projection on F(t)": vectors @ space.move_directions().T,
        "pairwise head on training triples": pairwise_head_scores(
            vectors, train.take(both_fitted), catalogue.num_attributes),
        "pointwise level head (shipped)": levels.head_levels(
            vectors, catalogue.item_attributes, fitted),
        "least squares on the true relevance (ceiling)": design @ solution,
    }
    return {name: float(np.mean(metrics.rank_correlation(estimate[held_out], truth[held_out])))
            for name, estimate in estimates.items()}


def main(argv):
    del argv
    from tfgrad import evaluation, levels, metrics
    from tfgrad.core import run
    from tfgrad.retrieval.gradual import GradualSettings
    from tfgrad.retrieval.walk import Walker
    from tfgrad.systems import cgir

    loaded = run.load_run(cgir.SYSTEM, FLAGS.work_dir)
    config, data = loaded.config, loaded.data
    catalogue = data.catalogue
    if catalogue.relevance is None:
        raise ValueError(f"{FLAGS.work_dir!r}: the catalogue has no true relevance to measure "
                         f"levels and walks against")
    space = cgir.item_space(loaded.model, catalogue)
    results = {"work_dir": FLAGS.work_dir,
               "level_rank_correlation": level_estimators(space, data, config.train.seed)}
    print("Spearman ρ with the true relevance on held-out items (mean over attributes):")
    for name, value in results["level_rank_correlation"].items():
        print(f"  {name:<48} {value:.3f}")

    queries = evaluation.validation_queries(data.train_triples, data.test_triples,
                                            FLAGS.queries, config.train.seed)
    walker = Walker.over(space)
    settings = dict(steps=config.eval.walk_steps, step_size=config.eval.step_size,
                    distinct=config.eval.distinct)

    def scores(row_walker, decoding):
        start = time.perf_counter()
        walks = evaluation.run_walks(row_walker, queries, catalogue.num_attributes,
                                     decoding=decoding, **settings)
        seconds = time.perf_counter() - start
        relevance = catalogue.relevance[evaluation.with_references(walks, queries.reference)]
        values = evaluation.walk_scores(relevance, queries)
        return {name: float(values[name]) for name in evaluation.WALK_COLUMNS} | {
            "seconds": seconds}

    greedy = scores(walker, "greedy")
    rows = []
    grid = itertools.product(map(int, FLAGS.candidates), map(float, FLAGS.evenness),
                             map(float, FLAGS.drift), map(float, FLAGS.jitter))
    for candidates, evenness, drift, jitter in grid:
        gradual = GradualSettings(candidates=candidates, evenness_weight=evenness,
                                  drift_weight=drift, jitter_weight=jitter)
        rows.append({"settings": dataclasses.asdict(gradual),
                     "estimated": scores(walker.with_gradual(gradual), "gradual"),
                     "true levels": scores(walker.with_gradual(
                         gradual, levels=catalogue.relevance), "gradual")})
    allowed = [row for row in rows if row["estimated"]["drift"] <= greedy["drift"]]
    chosen = max(allowed or rows, key=lambda row: row["estimated"]["mgs_c"])
    results.update(validation_queries=len(queries), greedy=greedy, grid=rows, chosen=chosen)

    print(f"\nvalidation walks ({len(queries)} queries): greedy MGS-C {greedy['mgs_c']:.3f}, "
          f"drift {greedy['drift']:.3f}, jitter {greedy['jitter']:.3f}, uneven "
          f"{greedy['uneven']:.3f}")
    print("| K | λ_even | λ_drift | λ_jitter | MGS-C | drift | jitter | uneven | MGS-R-TN | "
          "true levels: MGS-C | drift |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        s, e, t = row["settings"], row["estimated"], row["true levels"]
        mark = " **chosen**" if row is chosen else ""
        print(f"| {s['candidates']} | {s['evenness_weight']:g} | {s['drift_weight']:g} | "
              f"{s['jitter_weight']:g} | {e['mgs_c']:.3f} | {e['drift']:.3f} | "
              f"{e['jitter']:.3f} | {e['uneven']:.3f} | {e['mgs_r_tn']:.3f} | "
              f"{t['mgs_c']:.3f} | {t['drift']:.3f} |{mark}")
    chosen_settings = GradualSettings(**chosen["settings"])
    noisy_rows = []
    rng = np.random.default_rng(config.train.seed)
    print("\nlevels = true relevance + noise, decoded with the chosen setting:")
    for noise in map(float, FLAGS.noise):
        noisy = levels.quantile_levels(
            catalogue.relevance + rng.normal(scale=noise, size=catalogue.relevance.shape))
        rho = float(np.mean(metrics.rank_correlation(noisy, catalogue.relevance)))
        row = {"noise": noise, "rank_correlation": rho,
               **scores(walker.with_gradual(chosen_settings, levels=noisy), "gradual")}
        noisy_rows.append(row)
        print(f"  σ {noise:.2f}: ρ {rho:.3f} → MGS-C {row['mgs_c']:.3f}, drift "
              f"{row['drift']:.3f}, uneven {row['uneven']:.3f}")
    results["noisy_levels"] = noisy_rows
    if FLAGS.output:
        with open(FLAGS.output, "w") as f:
            json.dump(results, f, indent=1)
        print(f"written: {FLAGS.output}")


if __name__ == "__main__":
    app.run(main)
