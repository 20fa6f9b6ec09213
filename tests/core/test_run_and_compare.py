"""The one run loop and the one comparison loop, on a tiny CGIR catalogue (real code paths:
training, checkpoints, evaluation beside the reference rows, metrics file, pictures, export)."""

import dataclasses
import json
import os

import numpy as np
import pytest

from tfgrad.core import compare, registry, run
from tfgrad.core.system import Evaluation, Table
from tfgrad.data.synthetic import SyntheticCatalogueConfig
from tfgrad.systems import cgir


def tiny_config(tmp_path, **model):
    return cgir.CGIRConfig(
        name="tiny", work_dir=str(tmp_path / "run"), export_dir=str(tmp_path / "exports"),
        synthetic=SyntheticCatalogueConfig(num_items=120, num_users=150, num_attributes=4),
        model=cgir.RetrievalModelConfig(latent_dim=8, hidden_dims=(16,), **model),
        train=cgir.CGIRTrainConfig(steps=20, checkpoint_every=10, eval_every=10,
                                   user_batch_size=32, triple_batch_size=32),
        eval=cgir.WalkEvalConfig(max_queries=50, index="brute_force"))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    config = tiny_config(tmp_path_factory.mktemp("core"))
    return config, run.run(cgir.SYSTEM, config)


def test_run_writes_metrics_pictures_and_export(finished):
    config, result = finished
    table = result.main_table
    assert table.name == "synthetic"
    assert list(table.rows) == ["CGIR (gradual)", "CGIR (greedy)", "CGIR (gradual, true levels)",
                                "untrained CGIR", "random", "popularity"]
    with open(os.path.join(config.work_dir, run.METRICS_FILE)) as f:
        written = json.load(f)
    np.testing.assert_equal(written["metrics"], run.summarize(result.evaluation)["synthetic"])
    assert written["selected"] == {"step": 20}
    assert os.path.getsize(os.path.join(config.work_dir, cgir.WALKS_PNG)) > 0
    assert os.path.exists(os.path.join(result.export_path, "saved_model.pb"))
    with open(os.path.join(config.work_dir, run.CONFIG_FILE)) as f:
        assert json.load(f)["system"] == "cgir"


def test_a_finished_run_loads_back_with_the_same_item_space(finished):
    config, _ = finished
    data = cgir.SYSTEM.prepare(config, ("cgir",))
    loaded = run.load_trained(cgir.SYSTEM, config, data)
    evaluation = run.evaluate_run(cgir.SYSTEM, loaded, config, data)
    with open(os.path.join(config.work_dir, run.METRICS_FILE)) as f:
        np.testing.assert_equal(run.summarize(evaluation)["synthetic"]["CGIR (gradual)"],
                                json.load(f)["metrics"]["CGIR (gradual)"])
    other = dataclasses.replace(config, model=dataclasses.replace(config.model, beta=0.5))
    assert run.load_trained(cgir.SYSTEM, other, data) is None


def test_resuming_with_another_configuration_is_refused(finished):
    config, _ = finished
    other = dataclasses.replace(config, model=dataclasses.replace(config.model, latent_dim=4))
    with pytest.raises(run.WorkDirConflictError, match="different model"):
        run.check_work_dir(cgir.SYSTEM, other)


def test_compare_trains_then_loads_and_keeps_rows_in_order(tmp_path):
    base = tiny_config(tmp_path)
    first = compare.compare(cgir.SYSTEM, base, ["cgir", "tirg"], seeds=2)
    table = first.tables["synthetic"]
    assert list(table.rows) == [
        f"{model} ({row})" for model in ("CGIR", "TIRG")
        for row in ("gradual", "greedy", "gradual, true levels")] + [
        "untrained CGIR", "random", "popularity"]
    assert all(len(cells["mrr"]["values"]) == 2 for cells in table.rows.values())
    assert all(np.isfinite(first.train_seconds["CGIR"]))
    again = compare.compare(cgir.SYSTEM, base, ["cgir", "tirg"], seeds=2)
    assert all(np.isnan(again.train_seconds["TIRG"]))
    # The untrained row follows the process's random state, which training advances.
    for row in ("CGIR (gradual)", "TIRG (greedy)", "random", "popularity"):
        np.testing.assert_equal(again.tables["synthetic"].rows[row], table.rows[row])
    assert "| TIRG (gradual) |" in compare.format_comparison(table)
    with pytest.raises(ValueError, match="--seeds must be at least 1"):
        compare.compare(cgir.SYSTEM, base, ["cgir"], seeds=0)


def test_mean_and_std_over_seeds_skip_missing_values():
    stats = compare.mean_and_std([1.0, float("nan"), 3.0])
    assert (stats["mean"], stats["std"]) == (2.0, pytest.approx(np.std([1, 3], ddof=1)))
    assert np.isnan(compare.mean_and_std([float("nan")])["mean"])


def test_reference_rows_never_replace_a_models_row():
    model = Evaluation({"auc": Table("auc", ("a",), {"RAND": {"a": 0.7}})}, "auc", "RAND")
    reference = Evaluation({"auc": Table("auc", ("a",), {"RAND": {"a": 0.5},
                                                         "PopRank": {"a": 0.6}}),
                            "other": Table("other", ("b",), {"x": {"b": 1.0}})}, "auc", "RAND")
    merged = model.with_reference(reference)
    assert merged.tables["auc"].rows == {"RAND": {"a": 0.7}, "PopRank": {"a": 0.6}}
    assert merged.tables["other"].rows == {"x": {"b": 1.0}}


def test_registry_names_every_model_once_and_lists_the_known_ones():
    names = registry.model_names()
    assert len(names) == len(set(names))
    assert registry.system_of_model("vbpr").name == "dvbpr"
    assert registry.system_of_model("tirg").name == "cgir"
    with pytest.raises(ValueError, match="unknown model 'nosuch'; known: cgir, "):
        registry.system_of_model("nosuch")
    assert registry.system_of_model("autoencoder").name == "age"
    assert registry.system_of_model("entangled_tirg").name == "adde"
    with pytest.raises(ValueError, match="unknown system 'nosuch'; known: cgir, dvbpr, lsgan, "
                                         "age, adde"):
        registry.system("nosuch")
