"""Which decoding should a dataset's config default to? Greedy and gradual walks of a finished
CGIR run on *validation* queries (training triples' queries that are not test queries).

  python benchmarks/choose_decoding.py --work_dir=runs/g15/hm_pair/cgir/seed0 \
      --output=docs/results/choose_decoding_hm.json

A CGIR run's walks are scored on what the catalogue knows: the true relevance where it has
one (synthetic, the genome), else the walk items' own binary tags, plus the other categorical
columns kept (`metrics.columns_kept`) where the tags are columns (H&M). An ADDE run's label
walks are its validation split's first queries, scored on the labels (`adde.walk_scores`). The rule, the one the gradual
weights were chosen by on the synthetic catalogue: gradual is the default only if it keeps
the other attributes at least as well as greedy — drift no higher and, where there are
columns, as many columns kept — while walking more evenly (lower uneven, and on graded
relevance no lower MGS-C); otherwise greedy, the paper's walk.
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("work_dir", None, "A finished CGIR or ADDE run (tfgrad.train or one "
                    "seed of tfgrad.evaluate --models).")
flags.DEFINE_integer("queries", 1000, "Validation walk queries.")
flags.DEFINE_string("output", None, "Also write the figures here (JSON).")
flags.mark_flag_as_required("work_dir")


def choose(greedy: dict, gradual: dict) -> str:
    """The module docstring's rule."""
    keeps = gradual["drift"] <= greedy["drift"] and (
        np.isnan(greedy["kept"]) or gradual["kept"] >= greedy["kept"])
    walks_evenly = gradual["uneven"] < greedy["uneven"] and (
        np.isnan(greedy["mgs_c"]) or gradual["mgs_c"] >= greedy["mgs_c"])
    return "gradual" if keeps and walks_evenly else "greedy"


COLUMNS = ("mgs_c", "drift", "jitter", "uneven", "kept")


def cgir_scores(work_dir: str) -> tuple[str, int, dict]:
    """A CGIR run's walks of validation triples' queries: on the true relevance where the
    catalogue has one, else on the walk items' own tags (and the columns they keep)."""
    from tfgrad import evaluation
    from tfgrad.core import run
    from tfgrad.retrieval.gradual import DECODINGS
    from tfgrad.retrieval.walk import Walker
    from tfgrad.systems import cgir

    loaded = run.load_run(cgir.SYSTEM, work_dir)
    config, data = loaded.config, loaded.data
    catalogue = data.catalogue
    queries = evaluation.validation_queries(data.train_triples, data.test_triples,
                                            FLAGS.queries, config.train.seed)
    walker = Walker.over(cgir.item_space(loaded.model, catalogue), gradual=config.eval.gradual)
    graded = catalogue.relevance is not None
    scores = {}
    for decoding in DECODINGS:
        walks = evaluation.run_walks(walker, queries, catalogue.num_attributes,
                                     config.eval.walk_steps, config.eval.step_size,
                                     config.eval.distinct, decoding)
        if graded:
            values = {**evaluation.walk_scores(catalogue.relevance[evaluation.with_references(
                walks, queries.reference)], queries), "kept": float("nan")}
        else:
            values = {"mgs_c": float("nan"), **cgir.tag_walk_scores(walks, catalogue, queries)}
        scores[decoding] = {name: float(values[name]) for name in COLUMNS}
    scored_on = "the true relevance" if graded else "the walk items' tags"
    return scored_on, len(queries), scores


def adde_scores(work_dir: str) -> tuple[str, int, dict]:
    """An ADDE run's label walks of its validation split's first queries (items of that
    split), on the labels: the new value reached, the other attributes kept."""
    from tfgrad.core import run
    from tfgrad.systems import adde

    loaded = run.load_run(adde.SYSTEM, work_dir)
    config, data = loaded.config, loaded.data
    space = adde.SYSTEM.spaces(loaded.model, config, data).items
    walks = adde.run_label_walks(space, data, config, config.eval.index, "validation")
    scores = {decoding: {name: float(values["others_kept" if name == "kept" else name])
                         for name in COLUMNS}
              for decoding, values in adde.score_label_walks(walks, data, config,
                                                             "validation").items()}
    return "the labels", len(adde.walk_queries(data, config, "validation")), scores


def main(argv):
    del argv
    from tfgrad.core import registry

    system = registry.system_of_work_dir(FLAGS.work_dir)
    measure = {"cgir": cgir_scores, "adde": adde_scores}.get(system.name)
    if measure is None:
        raise ValueError(f"{FLAGS.work_dir!r} is a {system.name} run; walks are CGIR's and ADDE's")
    scored_on, count, scores = measure(FLAGS.work_dir)
    chosen = choose(scores["greedy"], scores["gradual"])
    print(f"{FLAGS.work_dir}: {count} validation queries, scored on {scored_on}")
    print("| decoding | MGS-C | drift | jitter | uneven | kept |")
    print("|---|---|---|---|---|---|")
    for decoding, row in scores.items():
        print(f"| {decoding} | " + " | ".join(
            "–" if np.isnan(row[name]) else f"{row[name]:.4f}" for name in COLUMNS) + " |")
    print(f"chosen: {chosen}")
    if FLAGS.output:
        with open(FLAGS.output, "w") as f:
            json.dump({"work_dir": FLAGS.work_dir, "validation_queries": count,
                       "scored_on": scored_on, "scores": scores, "chosen": chosen}, f, indent=1)
        print(f"written: {FLAGS.output}")


if __name__ == "__main__":
    app.run(main)
