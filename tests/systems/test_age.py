"""The AGE system end to end on Fashion-MNIST, tiny: the run loop trains e and g with
checkpoints, measures KNN precision and the probe beside raw pixels, PCA and chance, draws its
pictures, and exports `similar` / `reconstruct` / `sample` signatures that answer as the
in-memory KNN does and name bad input — in process, at the CLI and over gRPC."""

import dataclasses
import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from support.data_paths import FASHION_MNIST, needs_shared_data
from tfgrad.config import AlternatingTrainConfig
from tfgrad.core import run
from tfgrad.export.versioned import load_export
from tfgrad.retrieval.knn import nearest_neighbours
from tfgrad.systems import age

pytestmark = [needs_shared_data, pytest.mark.slow]


def tiny_config(tmp_path, kind="age", steps=20):
    return age.AGEConfig(
        name=f"tiny_{kind}", work_dir=str(tmp_path / kind), export_dir=str(tmp_path / "exports"),
        data=age.AGEDataConfig(fashion_mnist_dir=FASHION_MNIST, max_catalogue=400),
        model=age.AGEModelConfig(kind=kind, latent_dim=16, age_width=0.0625),
        train=AlternatingTrainConfig(steps=steps, checkpoint_every=10, eval_every=10,
                                 batch_size=16, strategy="one_device"),
        eval=age.AGEEvalConfig(queries=100, pca_dims=16, probe_steps=50, grid_samples=4))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    config = tiny_config(tmp_path_factory.mktemp("age"))
    return config, run.run(age.SYSTEM, config)


def test_run_measures_knn_beside_pixels_pca_and_chance(finished):
    config, result = finished
    table = result.main_table
    assert list(table.rows) == ["AGE", "raw pixels", "PCA-16", "random items"]
    assert table.columns == ("precision@3", "precision@10", "val_precision@3", "probe_train",
                             "probe_test")
    for row in table.rows.values():
        assert all(0.0 <= value <= 1.0 for value in row.values())
    # Fashion-MNIST's test classes are balanced: random items score 1/10 at every K.
    assert table.rows["random items"]["precision@3"] == pytest.approx(0.1, abs=0.03)
    # Pixels of clothes find the same kind of clothes far above chance.
    assert table.rows["raw pixels"]["precision@3"] > 0.5
    for picture in (age.SIMILAR_PNG, age.SAMPLES_PNG, age.RECONSTRUCTIONS_PNG,
                    age.INTERPOLATION_PNG):
        with open(os.path.join(config.work_dir, picture), "rb") as f:
            assert f.read()[:8] == b"\x89PNG\r\n\x1a\n", picture
    with open(os.path.join(config.work_dir, run.METRICS_FILE)) as f:
        assert json.load(f)["classes"][0] == "T-shirt/top"


def test_validation_queries_are_catalogue_photos_left_out_of_their_own_answer(finished):
    config, result = finished
    data = age.SYSTEM.prepare(config, ("age",))
    assert len(data.validation) == min(config.eval.validation_queries, len(data.catalogue))
    pixels = data.catalogue.images.reshape(len(data.catalogue), -1).astype(np.float64) / 127.5
    queries = pixels[data.validation]
    squared = ((queries ** 2).sum(1)[:, None] - 2 * queries @ pixels.T
               + (pixels ** 2).sum(1)[None])
    squared[np.arange(len(queries)), data.validation] = np.inf
    nearest = np.argsort(squared, axis=1, kind="stable")[:, :3]
    labels = data.catalogue.labels
    expected = np.mean(labels[nearest] == labels[data.validation][:, None])
    assert result.main_table.rows["raw pixels"]["val_precision@3"] == pytest.approx(
        expected, abs=0.01)


def test_training_logs_both_objectives_and_the_codes_statistics(finished):
    config, _ = finished
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set()
    for folder, _, files in os.walk(os.path.join(config.work_dir, "logs")):
        if any(name.startswith("events") for name in files):
            events = EventAccumulator(folder, size_guidance={"tensors": 0})
            events.Reload()
            tags.update(events.Tags()["tensors"])
    for tag in ("epoch_encoder_loss", "epoch_generator_loss", "epoch_code_mean",
                "codes/per_dimension_mean", "samples", "reconstructions"):
        assert tag in tags, tag


def test_a_finished_run_resumes_without_training_further(finished):
    config, _ = finished
    data = age.SYSTEM.prepare(config, ("age",))
    loaded = run.load_trained(age.SYSTEM, config, data)
    again = run.train(age.SYSTEM, config, data)[0]
    images = data.queries.images[:4]
    np.testing.assert_allclose(age.encode(again, images), age.encode(loaded, images), atol=1e-6)


def _similar(export, **inputs):
    defaults = {"item_id": "", "image": b"", "k": 3}
    given = {**defaults, **inputs}
    return export.saved_model.signatures["similar"](
        item_id=tf.constant(given["item_id"]), image=tf.constant(given["image"]),
        k=tf.constant(given["k"]))


@pytest.mark.parametrize("stock", [False, True])
def test_exported_similar_equals_the_in_memory_knn(finished, stock):
    config, result = finished
    path = result.export_path.replace(config.name, config.name + "_stock") if stock else (
        result.export_path)
    export = load_export(path)
    data = age.SYSTEM.prepare(config, ("age",))
    model = run.load_trained(age.SYSTEM, config, data)
    space = age.SYSTEM.spaces(model, config, data).items
    rows, distances = nearest_neighbours(space.item_vectors, space.item_vectors[:5], 4,
                                         exclude=np.arange(5))
    for query in range(5):
        answer = _similar(export, item_id=space.item_ids[query], k=4)
        found = [item.decode() for item in answer["item_ids"].numpy()]
        if stock:  # exact search: the same items in the same order
            assert found == list(space.item_ids[rows[query]])
        else:  # ScaNN: nearly the same items
            assert len(set(found) & set(space.item_ids[rows[query]])) >= 3
        assert space.item_ids[query] not in found
        np.testing.assert_allclose(answer["distances"].numpy()[:1], distances[query, :1],
                                   atol=1e-3)
        assert answer["images"].shape == (4,)


def test_similar_takes_photos_of_any_size_and_names_bad_input(finished):
    _, result = finished
    export = load_export(result.export_path)
    photo = np.zeros((48, 40, 3), np.uint8)
    photo[10:30, 12:28] = 200
    for encoded in (tf.io.encode_png(photo), tf.io.encode_jpeg(photo)):
        answer = _similar(export, image=encoded.numpy(), k=5)
        assert answer["item_ids"].shape == (5,)
        assert np.all(np.diff(answer["distances"].numpy()) >= -1e-6)
    for inputs, message in [
            (dict(item_id="train/nobody"), "unknown item id"),
            (dict(item_id=export.items.item_id[0], k=0), "k must be in 1..399"),
            (dict(item_id=export.items.item_id[0], k=400), "k must be in 1..399")]:
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            _similar(export, **inputs)
    with pytest.raises(tf.errors.InvalidArgumentError, match="Unknown image file format"):
        _similar(export, image=b"not a photo")


def test_reconstruct_and_sample_return_photos(finished):
    _, result = finished
    export = load_export(result.export_path)
    signatures = export.saved_model.signatures
    pair = signatures["reconstruct"](item_id=tf.constant(export.items.item_id[0]),
                                     image=tf.constant(b""))
    images = [tf.io.decode_png(png).numpy() for png in pair["images"].numpy()]
    assert len(images) == 2 and images[0].shape == (32, 32, 3)
    samples = signatures["sample"](count=tf.constant(3), seed=tf.constant(1, tf.int64))
    again = signatures["sample"](count=tf.constant(3), seed=tf.constant(1, tf.int64))
    assert samples["images"].numpy().tolist() == again["images"].numpy().tolist()
    with pytest.raises(tf.errors.InvalidArgumentError, match="count must be in 1..256"):
        signatures["sample"](count=tf.constant(0), seed=tf.constant(1, tf.int64))


def test_the_similar_cli_prints_draws_and_errors_are_one_line(finished, tmp_path):
    from support.cli_helpers import run_module

    _, result = finished
    item = load_export(result.export_path).items.item_id[3]
    out = tmp_path / "similar.png"
    photo = tmp_path / "photo.png"
    photo.write_bytes(tf.io.encode_png(np.full((28, 28, 3), 90, np.uint8)).numpy())
    for query in (f"--item={item}", f"--image={photo}"):
        answer = run_module("tfgrad.similar", f"--export_dir={result.export_path}", query,
                            "--k=4", f"--out={out}")
        assert answer.returncode == 0, answer.stderr
        assert answer.stdout.count("train/") == 4 and out.read_bytes()[:4] == b"\x89PNG"
    for args, message in [
            (("--item=train/nobody",), "error: unknown item id (or give image bytes): "
                                       "train/nobody"),
            ((f"--item={item}", "--k=0"), "error: k must be in 1..399, got 0"),
            ((f"--image={tmp_path / 'missing.jpg'}",), "error: --image"),
            ((), "error: give one of --image (a photo) or --item (a catalogue item id)")]:
        bad = run_module("tfgrad.similar", f"--export_dir={result.export_path}", *args)
        assert bad.returncode == 2 and bad.stderr.strip().startswith(message), bad.stderr


def test_the_server_answers_similar_requests_and_bad_ones(finished):
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    from tfgrad.serving.client import predict_request, response_arrays
    from tfgrad.serving.servables import ModelManager
    from tfgrad.serving.server import ModelServer

    _, result = finished
    manager = ModelManager("age", os.path.dirname(result.export_path), poll_seconds=0)
    manager.start()
    server = ModelServer(manager, "127.0.0.1", 0).start()
    item = load_export(result.export_path).items.item_id[1]
    inputs = {"item_id": (item, tf.string), "image": (b"", tf.string), "k": (3, tf.int32)}
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            answer = response_arrays(stub.Predict(predict_request("age", "similar", inputs),
                                                  timeout=120))
            in_process = _similar(load_export(result.export_path), item_id=item)
            assert answer["item_ids"].tolist() == in_process["item_ids"].numpy().tolist()
            for bad, message in [({"item_id": ("train/nobody", tf.string)}, "unknown item id"),
                                 ({"image": (b"garbage", tf.string)}, "image file format")]:
                with pytest.raises(grpc.RpcError) as error:
                    stub.Predict(predict_request("age", "similar", {**inputs, **bad}),
                                 timeout=120)
                assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert message in error.value.details()
    finally:
        server.stop(1)


@pytest.mark.parametrize("kind", ["autoencoder", "supervised"])
def test_the_compared_models_train_and_export(tmp_path, kind):
    config = tiny_config(tmp_path, kind, steps=10)
    result = run.run(age.SYSTEM, config)
    name = age.MODELS[kind].display_name
    assert name in result.main_table.rows
    signatures = load_export(result.export_path).saved_model.signatures
    assert ("reconstruct" in signatures) == (kind == "autoencoder")
    if kind == "supervised":
        assert not os.path.exists(os.path.join(config.work_dir, age.SAMPLES_PNG))


def test_embedded_photos_are_the_models_codes_and_dvbprs_visual_features(finished, tmp_path):
    from support.cli_helpers import run_module
    from tfgrad.systems.dvbpr import read_visual_features

    config, result = finished
    data = age.SYSTEM.prepare(config, ("age",))
    model = run.load_trained(age.SYSTEM, config, data)
    folder = tmp_path / "photos"
    folder.mkdir()
    for row in range(5):
        tf.io.write_file(str(folder / f"item{row}.png"),
                         tf.io.encode_png(data.queries.images[row]))
    out = tmp_path / "codes.npy"
    answer = run_module("tfgrad.similar", f"--export_dir={result.export_path}",
                        f"--embed_photos={folder}", f"--features_out={out}")
    assert answer.returncode == 0, answer.stderr
    ids = np.array([f"item{row}" for row in (4, 0, 2)])
    codes = read_visual_features(str(out), ids, str(tmp_path / "codes.ids.txt"))
    np.testing.assert_allclose(codes, age.encode(model, data.queries.images[[4, 0, 2]]),
                               atol=1e-5)
    bad = run_module("tfgrad.similar", f"--export_dir={result.export_path}",
                     f"--embed_photos={tmp_path / 'none'}")
    assert bad.returncode == 2 and "does not exist" in bad.stderr
