"""The LSGAN system end to end on H&M photos by product group, tiny: the run loop trains G
and D with checkpoints and sample grids, judges quality beside real photos and noise, and
exports a `generate` signature whose bad input is named."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from support.data_paths import HM, needs_shared_data
from tfgrad.config import AlternatingTrainConfig
from tfgrad.core import run
from tfgrad.export.versioned import load_export
from tfgrad.systems import lsgan

pytestmark = [needs_shared_data, pytest.mark.slow]


def tiny_config(tmp_path, steps=20):
    return lsgan.LSGANConfig(
        name="tiny_gan", work_dir=str(tmp_path / "run"), export_dir=str(tmp_path / "exports"),
        data=lsgan.GANDataConfig(hm_dir=HM, top_categories=3),
        model=lsgan.GANModelConfig(noise_dim=16, image_size=16, gan_width=0.0625),
        train=AlternatingTrainConfig(steps=steps, checkpoint_every=10, eval_every=10,
                                   batch_size=16, strategy="one_device"),
        eval=lsgan.GANEvalConfig(grid_samples=4, quality_samples=32, classifier_steps=20))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    config = tiny_config(tmp_path_factory.mktemp("lsgan"))
    return config, run.run(lsgan.SYSTEM, config)


def test_run_trains_judges_and_draws(finished):
    config, result = finished
    table = result.main_table
    assert list(table.rows) == ["LSGAN", "real photos", "noise"]
    for row in table.rows.values():
        assert row["is"] >= 1.0 - 1e-6 and row["fid"] >= -1e-6
    # Real photos against real photos are the ceiling of both measures.
    assert table.rows["real photos"]["fid"] < table.rows["noise"]["fid"]
    assert (open(os.path.join(config.work_dir, lsgan.SAMPLES_PNG), "rb").read()[:8]
            == b"\x89PNG\r\n\x1a\n")
    with open(os.path.join(config.work_dir, run.METRICS_FILE)) as f:
        written = json.load(f)
    assert written["categories"] == {"Garment Upper body": 1518, "Garment Lower body": 915,
                                     "Garment Full body": 476}


def test_a_killed_run_resumes_where_it_stopped(finished, tmp_path):
    config, _ = finished
    data = lsgan.SYSTEM.prepare(config, ("lsgan",))
    loaded = run.load_trained(lsgan.SYSTEM, config, data)
    noise = data.fixed_noise
    again = run.train(lsgan.SYSTEM, config, data)[0]
    categories = np.zeros(len(noise), np.int32)
    # A finished run re-run trains no further steps: the same generator comes back.
    np.testing.assert_allclose(again.generate(noise, categories),
                               loaded.generate(noise, categories), atol=1e-6)


def test_a_finished_run_is_re_evaluated_with_other_design_settings(finished):
    import dataclasses

    config, _ = finished
    # Designing only reads the trained G and D: another DVBPR run or η is no conflict.
    redesigned = dataclasses.replace(config, design=lsgan.DesignConfig(eta=0.5, design_users=3))
    data = lsgan.SYSTEM.prepare(redesigned, ("lsgan",))
    assert run.load_trained(lsgan.SYSTEM, redesigned, data) is not None
    run.check_work_dir(lsgan.SYSTEM, redesigned)
    run.check_work_dir(lsgan.SYSTEM, config)
    changed = dataclasses.replace(config, model=dataclasses.replace(config.model, noise_dim=8))
    with pytest.raises(run.WorkDirConflictError, match="model"):
        run.check_work_dir(lsgan.SYSTEM, changed)


def test_the_generate_signature_returns_photos_of_the_category(finished):
    _, result = finished
    export = load_export(result.export_path)
    generate = export.saved_model.signatures["generate"]
    answer = generate(category=tf.constant("Garment Lower body"), count=tf.constant(3),
                      seed=tf.constant(7, tf.int64))
    images = [tf.io.decode_png(png).numpy() for png in answer["images"].numpy()]
    assert len(images) == 3 and images[0].shape == (16, 16, 3)
    again = generate(category=tf.constant("Garment Lower body"), count=tf.constant(3),
                     seed=tf.constant(7, tf.int64))
    assert again["images"].numpy().tolist() == answer["images"].numpy().tolist()
    assert export.metadata["categories"][:2] == ["Garment Upper body", "Garment Lower body"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="unknown category"):
        generate(category=tf.constant("Hats"), count=tf.constant(2), seed=tf.constant(0, tf.int64))
    with pytest.raises(tf.errors.InvalidArgumentError, match="count must be in 1..256"):
        generate(category=tf.constant("Garment Full body"), count=tf.constant(0),
                 seed=tf.constant(0, tf.int64))


@pytest.fixture(scope="module")
def designed(tmp_path_factory):
    """A tiny DVBPR run on the same shop, then an LSGAN that designs for its users."""
    from tfgrad.systems import dvbpr

    directory = tmp_path_factory.mktemp("designs")
    shop_config = dvbpr.DVBPRConfig(
        name="shop", work_dir=str(directory / "dvbpr"), export_dir=str(directory / "exports"),
        data=dvbpr.PurchaseDataConfig(hm_dir=HM, max_users=60),
        model=dvbpr.RecommenderModelConfig(latent_dim=8, image_size=24),
        train=dvbpr.TripleTrainConfig(steps=20, checkpoint_every=10, eval_every=10,
                                      triple_batch_size=32, strategy="one_device"))
    run.run(dvbpr.SYSTEM, shop_config, export=False)
    base = tiny_config(directory)
    config = lsgan.LSGANConfig(**{
        **{field: getattr(base, field) for field in ("name", "export_dir", "data", "model",
                                                     "train", "eval")},
        "work_dir": str(directory / "lsgan"),
        "design": lsgan.DesignConfig(preference_run=shop_config.work_dir,
                                     judge_run=shop_config.work_dir, starts=8,
                                     design_steps=5, inversion_steps=5, design_users=2,
                                     design_seeds=1)})
    result = run.run(lsgan.SYSTEM, config)
    shop = run.load_run(dvbpr.SYSTEM, shop_config.work_dir)
    return config, result, shop.spaces.users.user_ids


def test_the_design_table_has_the_papers_rows(designed):
    config, result, _ = designed
    table = result.evaluation.tables["designs"]
    assert list(table.rows) == list(lsgan.design_rows(config.design.eta)) == [
        "random real items", "retrieval δ", "random G samples", "PM η=0", "PM η=1"]
    for values in table.rows.values():
        assert all(np.isfinite(values[column]) for column in lsgan.DESIGN_COLUMNS)
    # Climbing the preference (η = 0) beats drawing G's samples at random, under the model
    # climbed (here the judge is the same run: equal by construction).
    rows = table.rows
    assert rows["PM η=0"]["preference"] > rows["random G samples"]["preference"]
    assert rows["PM η=0"]["judge_preference"] == pytest.approx(rows["PM η=0"]["preference"],
                                                               abs=1e-5)
    for picture in (lsgan.DESIGNS_PNG, lsgan.TAILORING_PNG):
        with open(os.path.join(config.work_dir, picture), "rb") as f:
            assert f.read()[:8] == b"\x89PNG\r\n\x1a\n"


def test_design_and_tailor_signatures_answer_and_name_bad_input(designed):
    _, result, user_ids = designed
    export = load_export(result.export_path)
    design = export.saved_model.signatures["design"]
    common = dict(eta=tf.constant(1.0), steps=tf.constant(3), seed=tf.constant(5, tf.int64))
    answer = design(user_id=tf.constant(user_ids[0]), category=tf.constant("Garment Full body"),
                    m=tf.constant(6), **common)
    assert answer["images"].shape == (3,) and answer["preference"].shape == (3,)
    assert tf.io.decode_png(answer["images"][0]).shape == (16, 16, 3)
    tailor = export.saved_model.signatures["tailor"]
    item = export.items.item_id[0]
    tailored = tailor(user_id=tf.constant(user_ids[1]), item_id=tf.constant(item),
                      image=tf.constant(""), category=tf.constant(""), **common)
    assert tailored["images"].shape == (3,)
    photo = open(export.items.image[0], "rb").read()
    from_bytes = tailor(user_id=tf.constant(user_ids[1]), item_id=tf.constant(""),
                        image=tf.constant(photo),
                        category=tf.constant(export.items.category[0]), **common)
    # The stored photo is a JPEG of the table's 16 px image, the file the full-size original:
    # both reach G's size the same way (white padding), up to JPEG's loss.
    stored, given = (tf.io.decode_png(answer["images"][0]).numpy().astype(float)
                     for answer in (tailored, from_bytes))
    assert np.mean(np.abs(stored - given)) < 12
    for inputs, message in [
            (dict(user_id="nobody", category="Garment Full body", m=6), "unknown user id"),
            (dict(user_id=user_ids[0], category="Hats", m=6), "unknown category"),
            (dict(user_id=user_ids[0], category="Garment Full body", m=1), "m must be in")]:
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            design(**{k: tf.constant(v) for k, v in inputs.items()}, **common)
    with pytest.raises(tf.errors.InvalidArgumentError, match="Unknown image file format"):
        tailor(user_id=tf.constant(user_ids[0]), item_id=tf.constant(""),
               image=tf.constant("not a photo"), category=tf.constant("Garment Full body"),
               **common)


def test_the_design_cli_draws_and_errors_are_one_line(designed, tmp_path):
    from support.cli_helpers import run_module

    _, result, user_ids = designed
    out = tmp_path / "design.png"
    answer = run_module("tfgrad.design", f"--export_dir={result.export_path}",
                        f"--user={user_ids[0]}", "--category=Garment Lower body", "--m=4",
                        "--steps=2", f"--out={out}")
    assert answer.returncode == 0, answer.stderr
    assert "best  preference" in answer.stdout and out.read_bytes()[:4] == b"\x89PNG"
    assert answer.stderr.strip() == ""
    bad = run_module("tfgrad.design", f"--export_dir={result.export_path}", "--user=nobody",
                     "--category=Garment Lower body")
    assert bad.returncode == 2 and bad.stderr.strip() == "error: unknown user id: nobody"


def test_the_server_answers_design_requests_and_bad_ones(designed):
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    from tfgrad.serving.client import predict_request, response_arrays
    from tfgrad.serving.servables import ModelManager
    from tfgrad.serving.server import ModelServer

    _, result, user_ids = designed
    manager = ModelManager("lsgan", os.path.dirname(result.export_path), poll_seconds=0)
    manager.start()
    server = ModelServer(manager, "127.0.0.1", 0).start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            inputs = {"user_id": (user_ids[0], tf.string),
                      "category": ("Garment Upper body", tf.string), "m": (4, tf.int32),
                      "eta": (1.0, tf.float32), "steps": (2, tf.int32), "seed": (0, tf.int64)}
            answer = response_arrays(stub.Predict(predict_request("lsgan", "design", inputs),
                                                  timeout=120))
            assert answer["images"].shape == (3,)
            with pytest.raises(grpc.RpcError) as error:
                stub.Predict(predict_request("lsgan", "design", {
                    **inputs, "category": ("Hats", tf.string)}), timeout=120)
            assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "unknown category: Hats" in error.value.details()
    finally:
        server.stop(1)
