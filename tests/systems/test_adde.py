"""The ADDE system end to end on Fashion Product Images, tiny: the run loop trains the three
stages with checkpoints and validation selection, measures top-k and NDCG overall and per
attribute beside random items, draws the manipulations and the memory block, and exports a
`manipulate` signature that answers as the in-memory search does and names bad input — in
process, at the CLI and over gRPC; the baselines train through the comparison loop."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from support.data_paths import FASHION_PRODUCTS, needs_shared_data
from tfgrad.core import compare, run, selection
from tfgrad.data.attributes import indicators
from tfgrad.export.versioned import load_export
from tfgrad.systems import adde

pytestmark = [needs_shared_data, pytest.mark.slow]


def tiny_config(tmp_path, kind="adde", steps=12):
    return adde.ADDEConfig(
        name=f"tiny_{kind}", work_dir=str(tmp_path / kind), export_dir=str(tmp_path / "exports"),
        data=adde.ADDEDataConfig(fashion_dir=FASHION_PRODUCTS, image_size=32, max_items=500),
        model=adde.ADDEModelConfig(kind=kind, width=0.0625, backbone_dim=32, chunk_dim=8,
                                   attribute_steps=6, prototype_steps=3, tirg_hidden=16),
        train=adde.ADDETrainConfig(steps=steps, checkpoint_every=6, eval_every=6,
                                   batch_size=16, strategy="one_device"),
        eval=adde.ADDEEvalConfig(queries=100, validation_queries=80))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    config = tiny_config(tmp_path_factory.mktemp("adde"))
    return config, run.run(adde.SYSTEM, config)


def test_run_measures_top_k_and_ndcg_overall_and_per_attribute(finished):
    config, result = finished
    table = result.main_table
    assert list(table.rows) == ["ADDE", "random items"]
    assert table.columns == ("top@10", "top@20", "top@30", "top@50", "ndcg@30", "val_top@30",
                             "memory_off_block")
    for row in table.rows.values():
        assert all(0.0 <= value <= 1.0 for value in row.values())
        # A hit within 10 is a hit within 50.
        assert row["top@10"] <= row["top@20"] <= row["top@30"] <= row["top@50"]
    assert adde.OFF_BLOCK_COLUMN not in table.rows["random items"]
    per_attribute = [name for name in result.evaluation.tables
                     if name not in ("overall", "walks")]
    assert per_attribute and set(per_attribute) <= set(adde.DEFAULT_ATTRIBUTES[
        "fashion_products"])
    walks = result.evaluation.tables["walks"]
    assert list(walks.rows) == ["ADDE (gradual)", "ADDE (greedy)", "random items"]
    for row in walks.rows.values():
        assert all(0.0 <= row[column] <= 1.0 for column in adde.WALK_COLUMNS)
    for picture in (adde.MANIPULATIONS_PNG, adde.MEMORY_PNG, adde.WALK_PNG):
        with open(os.path.join(config.work_dir, picture), "rb") as f:
            assert f.read()[:8] == b"\x89PNG\r\n\x1a\n", picture
    with open(os.path.join(config.work_dir, run.METRICS_FILE)) as f:
        metrics = json.load(f)
    assert 0.0 <= metrics["memory_off_block_mass"] < 1.0


def test_queries_of_each_split_can_hit_in_that_split(finished):
    config, _ = finished
    data = adde.SYSTEM.prepare(config)
    assert set(data.splits) == set(adde.SPLITS)
    rows = np.concatenate(list(data.splits.values()))
    assert len(np.unique(rows)) == len(rows) == len(data.photos)
    for split, queries in data.queries.items():
        present = {tuple(label) for label in data.split_labels(split).tolist()}
        assert all(tuple(target) in present for target in queries.targets.tolist()), split


def test_the_kept_weights_are_the_best_on_validation(finished):
    config, result = finished
    with open(os.path.join(config.work_dir, selection.BEST_FILE)) as f:
        best = json.load(f)
    assert result.selected == best
    assert result.main_table.rows["ADDE"]["val_top@30"] == pytest.approx(best["val_top@30"])


def test_a_finished_run_resumes_without_training_further(finished):
    config, _ = finished
    data = adde.SYSTEM.prepare(config)
    loaded = run.load_trained(adde.SYSTEM, config, data)
    again = run.train(adde.SYSTEM, config, data)[0]
    images = data.images[:4]
    np.testing.assert_allclose(adde.embed(again, images), adde.embed(loaded, images), atol=1e-6)


def _manipulate(export, item_id="", image=b"", attributes=("baseColour",), values=("Black",),
                k=5):
    return export.saved_model.signatures["manipulate"](
        item_id=tf.constant(item_id), image=tf.constant(image),
        attributes=tf.constant(list(attributes), tf.string),
        values=tf.constant(list(values), tf.string), k=tf.constant(k))


def _changeable(data, attribute="baseColour"):
    """(item row, a value of `attribute` it does not have)."""
    position = data.photos.attribute_index(attribute)
    row = int(np.flatnonzero(data.photos.labels[:, position] >= 0)[0])
    value = (data.photos.labels[row, position] + 1) % data.photos.num_values[position]
    return row, position, int(value)


@pytest.mark.parametrize("stock", [False, True])
def test_exported_manipulate_equals_the_in_memory_search(finished, stock):
    config, result = finished
    path = result.export_path.replace(config.name, config.name + "_stock") if stock else (
        result.export_path)
    export = load_export(path)
    data = adde.SYSTEM.prepare(config)
    model = run.load_trained(adde.SYSTEM, config, data)
    row, position, value = _changeable(data)
    target = data.photos.labels[row:row + 1].copy()
    target[0, position] = value
    features = adde.embed(model, data.images)
    query = model.manipulate(features[row:row + 1], indicators(
        data.photos.labels[row:row + 1], target, data.photos.num_values)).numpy()
    query /= np.linalg.norm(query)
    gallery = features / np.linalg.norm(features, axis=1, keepdims=True)
    scores = gallery @ query[0]
    scores[row] = -np.inf
    expected = data.photos.item_ids[np.argsort(-scores, kind="stable")[:5]]
    answer = _manipulate(export, item_id=data.photos.item_ids[row],
                         values=(data.photos.values[position][value],))
    found = [item.decode() for item in answer["item_ids"].numpy()]
    if stock:
        assert found == list(expected)
        np.testing.assert_allclose(answer["scores"].numpy(), np.sort(scores)[::-1][:5],
                                   atol=1e-4)
    else:
        assert len(set(found) & set(expected)) >= 3
    assert data.photos.item_ids[row] not in found


def test_manipulate_takes_photos_and_names_bad_input(finished):
    _, result = finished
    export = load_export(result.export_path)
    photo = np.full((80, 60, 3), 230, np.uint8)
    photo[20:60, 15:45] = 30
    answer = _manipulate(export, image=tf.io.encode_jpeg(photo).numpy(),
                         attributes=("baseColour", "season"), values=("Red", "Summer"))
    assert answer["item_ids"].shape == (5,) and answer["images"].shape == (5,)
    item = export.items.item_id[0]
    for inputs, message in [
            (dict(item_id="nobody"), "unknown item id"),
            (dict(item_id=item, attributes=("colour",)), "unknown attribute.*known: gender"),
            (dict(item_id=item, values=("Plaid",)), "unknown value"),
            (dict(item_id=item, attributes=("baseColour", "baseColour"),
                  values=("Red", "Blue")), "changed twice"),
            (dict(item_id=item, attributes=(), values=()), "one value per attribute"),
            (dict(item_id=item, k=0), "k must be in 1..499")]:
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            _manipulate(export, **inputs)
    with pytest.raises(tf.errors.InvalidArgumentError, match="Unknown image file format"):
        _manipulate(export, image=b"not a photo")


def test_the_manipulate_cli_prints_draws_and_errors_are_one_line(finished, tmp_path):
    from support.cli_helpers import run_module

    _, result = finished
    item = load_export(result.export_path).items.item_id[3]
    out = tmp_path / "manipulated.png"
    answer = run_module("tfgrad.manipulate", f"--export_dir={result.export_path}",
                        f"--item={item}", "--set=baseColour=Red", "--set=season=Summer",
                        "--k=4", f"--out={out}")
    assert answer.returncode == 0, answer.stderr
    assert "but baseColour=Red, season=Summer" in answer.stdout
    assert out.read_bytes()[:4] == b"\x89PNG"
    for args, message in [
            (("--item=nobody", "--set=baseColour=Red"), "error: unknown item id"),
            ((f"--item={item}", "--set=colour=Red"),
             "error: unknown attribute 'colour'; known: gender, masterCategory"),
            ((f"--item={item}", "--set=baseColour=Plaid"),
             "error: unknown value 'Plaid' of baseColour; known: "),
            ((f"--item={item}", "--set=baseColour"), "error: --set 'baseColour' is not"),
            ((f"--item={item}",), "error: give at least one --set")]:
        bad = run_module("tfgrad.manipulate", f"--export_dir={result.export_path}", *args)
        assert bad.returncode == 2 and bad.stderr.strip().startswith(message), bad.stderr


def test_the_server_answers_manipulate_requests_and_bad_ones(finished):
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    from tfgrad.serving.client import predict_request, response_arrays
    from tfgrad.serving.servables import ModelManager
    from tfgrad.serving.server import ModelServer

    _, result = finished
    manager = ModelManager("adde", os.path.dirname(result.export_path), poll_seconds=0)
    manager.start()
    server = ModelServer(manager, "127.0.0.1", 0).start()
    item = load_export(result.export_path).items.item_id[1]
    inputs = {"item_id": (item, tf.string), "image": (b"", tf.string),
              "attributes": (["baseColour"], tf.string), "values": (["Black"], tf.string),
              "k": (3, tf.int32)}
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            answer = response_arrays(stub.Predict(
                predict_request("adde", "manipulate", inputs), timeout=120))
            in_process = _manipulate(load_export(result.export_path), item_id=item, k=3)
            assert answer["item_ids"].tolist() == in_process["item_ids"].numpy().tolist()
            for bad, message in [({"item_id": ("nobody", tf.string)}, "unknown item id"),
                                 ({"attributes": (["colour"], tf.string)},
                                  "unknown attribute")]:
                with pytest.raises(grpc.RpcError) as error:
                    stub.Predict(predict_request("adde", "manipulate", {**inputs, **bad}),
                                 timeout=120)
                assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert message in error.value.details()
    finally:
        server.stop(1)


def test_the_baselines_train_through_the_comparison(tmp_path):
    base = tiny_config(tmp_path, steps=6)
    comparison = compare.compare(adde.SYSTEM, base, ["entangled_tirg", "attribute_filter"], 1)
    rows = comparison.tables["overall"].rows
    assert list(rows)[:3] == ["entangled TIRG", "attribute filter + CNN", "random items"]
    for name in ("entangled TIRG", "attribute filter + CNN"):
        assert 0.0 <= rows[name]["top@50"]["mean"] <= 1.0


def test_the_exported_walk_goes_from_the_reference_toward_the_manipulated_query(finished):
    config, result = finished
    path = result.export_path.replace(config.name, config.name + "_stock")
    export = load_export(path)
    data = adde.SYSTEM.prepare(config)
    model = run.load_trained(adde.SYSTEM, config, data)
    space = adde.SYSTEM.spaces(model, config, data).items
    row, position, value = _changeable(data)
    old = data.photos.values[position][data.photos.labels[row, position]]
    new = data.photos.values[position][value]
    attribute = data.photos.attributes[position]
    from tfgrad.retrieval.walk import Walker

    weights = np.zeros((1, len(space.attributes)), np.float32)
    weights[0, space.attributes.index(f"{attribute}={old}")] = -1.0
    weights[0, space.attributes.index(f"{attribute}={new}")] = 1.0
    walker = Walker.over(space)
    # "" decodes as configured (gradual, from the classifiers' probabilities); both decodings
    # equal the in-memory walk.
    for requested, decoding in (("", "gradual"), ("greedy", "greedy")):
        walk = export.saved_model.signatures["walk_exact"](
            item=tf.constant([data.photos.item_ids[row]]),
            attribute=tf.constant([f"{attribute}={old},{attribute}={new}"]),
            direction=tf.constant(["less,more"]), steps=tf.constant(10),
            decoding=tf.constant(requested))
        expected = walker.walk(np.array([row]), weights, 10, config.eval.step_size,
                               decoding=decoding)
        assert [item.decode() for item in walk["item_ids"].numpy()[0]] == list(
            space.item_ids[expected.items.numpy()[0]])
    np.testing.assert_allclose(walk["strengths"].numpy()[-1], 1.0, atol=1e-6)
    # γ = 1 is f′: the greedy walk's last item is manipulate's best not walked before it.
    answer = _manipulate(export, item_id=data.photos.item_ids[row], values=(new,), k=10)
    assert walk["item_ids"].numpy()[0][-1] in answer["item_ids"].numpy()
