"""The TF Serving API server: real gRPC stubs and HTTP over 127.0.0.1, compared with the
in-process SavedModel; status codes; hot version swap under load; a malformed-request storm."""

import json
import os
import re
import shutil
import signal
import socket
import threading
import time
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2,
                                     model_service_pb2_grpc, predict_pb2,
                                     prediction_service_pb2_grpc)

from support.cli_helpers import run_module, start_module
from tfgrad.data.synthetic import SyntheticCatalogueConfig, generate_catalogue
from support.exports import save_walk_export
from tfgrad.export.versioned import load_export, save_versioned
from tfgrad.serving.client import walk_request, walk_response
from tfgrad.serving.servables import ModelManager
from tfgrad.serving.server import ModelServer

NUM_ITEMS, DIM, NUM_ATTRIBUTES = 400, 16, 5


def _export(base, seed):
    catalogue = generate_catalogue(SyntheticCatalogueConfig(
        num_items=NUM_ITEMS, num_users=20, num_attributes=NUM_ATTRIBUTES))
    rng = np.random.default_rng(seed)
    return save_walk_export(catalogue, rng.normal(size=(NUM_ITEMS, DIM)),
                            rng.uniform(size=(NUM_ATTRIBUTES, DIM)), base)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("serving") / "cgir")
    _export(base, seed=0)
    manager = ModelManager("cgir", base, poll_seconds=0)
    manager.start()
    server = ModelServer(manager, "127.0.0.1", 0, _free_port(), max_request_rows=64).start()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    yield {"base": base, "server": server,
           "predict": prediction_service_pb2_grpc.PredictionServiceStub(channel),
           "models": model_service_pb2_grpc.ModelServiceStub(channel)}
    channel.close()
    server.stop(1)


def _good_request(signature="walk", **overrides):
    arguments = dict(items=["SKU000001", "SKU000100"], attributes=["floral", "dark,formal"],
                     directions=["more", "less,more"], steps=6, signature_name=signature)
    arguments.update(overrides)
    return walk_request("cgir", **arguments)


@pytest.mark.parametrize("signature", ["walk", "walk_exact", "serving_default"])
def test_predict_over_grpc_equals_the_in_process_saved_model(served, signature):
    response = served["predict"].Predict(_good_request(signature), timeout=30)
    assert response.model_spec.name == "cgir"
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == signature
    remote = walk_response(response)

    local_export = load_export(served["base"])
    local = local_export.saved_model.signatures[signature](
        item=tf.constant(["SKU000001", "SKU000100"]), attribute=tf.constant(["floral", "dark,formal"]),
        direction=tf.constant(["more", "less,more"]), steps=tf.constant(6), decoding=tf.constant(""))
    np.testing.assert_array_equal(remote["item_ids"], local["item_ids"].numpy().astype(str))
    np.testing.assert_allclose(remote["scores"], local["scores"].numpy(), rtol=1e-6)
    np.testing.assert_allclose(remote["strengths"], np.arange(1, 7) * 0.1, rtol=1e-6)


def test_output_filter_and_metadata_and_status(served):
    request = _good_request()
    request.output_filter.append("item_ids")
    assert set(served["predict"].Predict(request, timeout=30).outputs) == {"item_ids"}

    metadata_request = get_model_metadata_pb2.GetModelMetadataRequest()
    metadata_request.model_spec.name = "cgir"
    metadata_request.metadata_field.append("signature_def")
    metadata = served["predict"].GetModelMetadata(metadata_request, timeout=30)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    metadata.metadata["signature_def"].Unpack(signatures)
    assert {"walk", "walk_exact", "serving_default"} <= set(signatures.signature_def)
    assert set(signatures.signature_def["walk"].inputs) == {"item", "attribute", "direction",
                                                            "steps", "decoding"}
    assert metadata.model_spec.version.value == 1

    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = "cgir"
    status = served["models"].GetModelStatus(status_request, timeout=30)
    assert [(s.version, s.state) for s in status.model_version_status] == [
        (1, get_model_status_pb2.ModelVersionStatus.AVAILABLE)]


def _set_tensor(request, alias, value, dtype):
    request.inputs[alias].CopyFrom(tf.make_tensor_proto(value, dtype=dtype))


def _bad_requests():
    unknown_model = _good_request()
    unknown_model.model_spec.name = "nope"
    unknown_version = _good_request()
    unknown_version.model_spec.version.value = 7
    label = _good_request()
    label.model_spec.version_label = "stable"
    missing = _good_request()
    del missing.inputs["steps"]
    extra = _good_request()
    _set_tensor(extra, "colour", ["red"], tf.string)
    renamed = _good_request()
    del renamed.inputs["steps"]
    _set_tensor(renamed, "n_steps", 3, tf.int32)
    wrong_dtype = _good_request()
    _set_tensor(wrong_dtype, "item", [1, 2], tf.int64)
    wrong_shape = _good_request()
    _set_tensor(wrong_shape, "steps", [3, 4], tf.int32)
    bad_filter = _good_request()
    bad_filter.output_filter.append("colour")
    return [
        (unknown_model, "NOT_FOUND", "Servable not found for request: Latest(nope)"),
        (unknown_version, "NOT_FOUND", "Specific(cgir, 7)"),
        (label, "NOT_FOUND", "version label: stable"),
        (_good_request(signature="predict"), "FAILED_PRECONDITION",
         'Serving signature key "predict" not found.'),
        (missing, "INVALID_ARGUMENT", "Missing but required: {steps}"),
        (extra, "INVALID_ARGUMENT", "Sent extra: {colour}"),
        (renamed, "INVALID_ARGUMENT", "input tensor alias not found in signature: n_steps"),
        (wrong_dtype, "INVALID_ARGUMENT", "Expects arg item to be string but int64"),
        (wrong_shape, "INVALID_ARGUMENT", "input steps has shape [2]"),
        (bad_filter, "INVALID_ARGUMENT", "output tensor alias not found in signature: colour"),
        (_good_request(items=["NOPE", "SKU000001"]), "INVALID_ARGUMENT", "unknown item id(s): NOPE"),
        (_good_request(attributes=["flroal", "dark,formal"]), "INVALID_ARGUMENT",
         "unknown attribute(s): flroal"),
        (_good_request(steps=0), "INVALID_ARGUMENT", "steps must be in 1..399"),
        (_good_request(decoding="best"), "INVALID_ARGUMENT",
         "decoding must be one of greedy, gradual"),
        (_good_request(items=["SKU000001"] * 65, attributes=["floral"] * 65,
                       directions=["more"] * 65), "INVALID_ARGUMENT", "at most 64"),
    ]


@pytest.mark.parametrize("request_, code, message", _bad_requests())
def test_bad_requests_answer_the_tf_serving_status(served, request_, code, message):
    with pytest.raises(grpc.RpcError) as raised:
        served["predict"].Predict(request_, timeout=30)
    assert raised.value.code().name == code
    assert message in raised.value.details()
    assert "Traceback" not in raised.value.details()


def test_a_storm_of_malformed_requests_never_stops_the_server(served):
    rng = np.random.default_rng(0)
    aliases = ["item", "attribute", "direction", "steps", "junk", ""]
    values = [
        lambda: tf.make_tensor_proto(rng.integers(-5, 5, size=rng.integers(0, 4))),
        lambda: tf.make_tensor_proto([str(rng.integers(1e6))] * int(rng.integers(1, 4))),
        lambda: tf.make_tensor_proto(float(rng.normal())),
        lambda: tf.make_tensor_proto(np.zeros((2, 2), np.float32)),
        lambda: tf.make_tensor_proto(["more", "sideways"]),
        lambda: tf.make_tensor_proto(int(rng.integers(-10, 10**6)), dtype=tf.int32),
    ]
    failures = 0
    for _ in range(300):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = str(rng.choice(["cgir", "cgir", "x"]))
        request.model_spec.signature_name = str(rng.choice(["walk", "walk_exact", "", "zz"]))
        for _ in range(int(rng.integers(0, 6))):
            alias = str(rng.choice(aliases))
            request.inputs[alias].CopyFrom(values[int(rng.integers(len(values)))]())
        if rng.random() < 0.1:  # a TensorProto whose content does not match its shape
            request.inputs["item"].dtype = tf.string.as_datatype_enum
            request.inputs["item"].tensor_shape.dim.add().size = 5
        try:
            served["predict"].Predict(request, timeout=30)
        except grpc.RpcError as error:
            failures += 1
            assert error.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                                    grpc.StatusCode.FAILED_PRECONDITION)
            assert "Traceback" not in (error.details() or "")
    assert failures == 300
    # Still serving good requests.
    assert served["predict"].Predict(_good_request(), timeout=30).model_spec.version.value == 1


def _rest(served, path, body=None):
    url = f"http://127.0.0.1:{served['server'].rest_port}{path}"
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_rest_api_in_tf_serving_json_format(served):
    status, answer = _rest(served, "/v1/models/cgir:predict", {
        "signature_name": "walk_exact",
        "inputs": {"item": ["SKU000001"], "attribute": ["floral"], "direction": ["more"],
                   "steps": 4, "decoding": ""}})
    assert status == 200
    grpc_answer = walk_response(served["predict"].Predict(_good_request(
        "walk_exact", items=["SKU000001"], attributes=["floral"], directions=["more"], steps=4),
        timeout=30))
    assert answer["outputs"]["item_ids"] == grpc_answer["item_ids"].tolist()

    assert _rest(served, "/v1/models/cgir")[1]["model_version_status"][0]["state"] == "AVAILABLE"
    assert "walk" in _rest(served, "/v1/models/cgir/versions/1/metadata")[1]["metadata"][
        "signature_def"]["signatureDef"]
    assert _rest(served, "/v1/models/nope:predict", {"inputs": {}})[0] == 404
    assert _rest(served, "/v1/models/cgir/versions/9")[0] == 404
    status, answer = _rest(served, "/v1/models/cgir:predict", b"{not json")
    assert status == 400 and "JSON Parse error" in answer["error"]
    status, answer = _rest(served, "/v1/models/cgir:predict", {"inputs": {
        "item": ["NOPE"], "attribute": ["floral"], "direction": ["more"], "steps": 4, "decoding": ""}})
    assert status == 400 and "unknown item id(s): NOPE" in answer["error"]


def test_hot_swap_to_a_new_version_fails_no_request_in_flight(tmp_path):
    base = str(tmp_path / "cgir")
    _export(base, seed=0)
    manager = ModelManager("cgir", base, poll_seconds=0.2)
    manager.start()
    server = ModelServer(manager, "127.0.0.1", 0).start()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    versions, errors, stop = [], [], threading.Event()

    def client():
        while not stop.is_set():
            try:
                versions.append(stub.Predict(_good_request(), timeout=30).model_spec.version.value)
            except grpc.RpcError as error:
                errors.append(error)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        staging = str(tmp_path / "staging")
        _export(staging, seed=1)  # a different model: its walks differ
        shutil.move(os.path.join(staging, "1"), os.path.join(base, "2"))
        deadline = time.monotonic() + 60
        while (not versions or versions[-1] != 2) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        channel.close()
        server.stop(1)
    assert not errors, errors[:3]
    assert versions[0] == 1 and versions[-1] == 2
    assert set(versions) == {1, 2}
    assert versions.index(2) > 0 and 1 not in versions[versions.index(2) + 8:]


def test_a_version_that_fails_to_load_keeps_the_old_one_serving(tmp_path):
    base = str(tmp_path / "cgir")
    _export(base, seed=0)
    os.makedirs(os.path.join(base, "2"))
    with open(os.path.join(base, "2", "saved_model.pb"), "wb") as f:
        f.write(b"not a saved model")
    manager = ModelManager("cgir", base, poll_seconds=0)
    assert manager.start().version == 1
    assert 2 in manager.failed_versions


def test_serve_and_client_commands_with_graceful_sigterm(served):
    server = start_module("tfgrad.serve", "--model_name=cgir",
                          f"--model_base_path={served['base']}", "--host=127.0.0.1", "--port=0")
    try:
        line = server.stdout.readline()
        port = re.search(r"gRPC 127\.0\.0\.1:(\d+)", line)
        assert port, line + server.stderr.read()
        client = run_module("tfgrad.client", f"--server=127.0.0.1:{port[1]}",
                            "--model_name=cgir", "--item=SKU000001", "--attribute=floral",
                            "--steps=3")
        assert client.returncode == 0, client.stderr
        assert "more floral from SKU000001: model cgir version 1, signature walk" in client.stdout
        assert len(re.findall(r"^\s+\d\s+0\.\d0\s+SKU", client.stdout, re.MULTILINE)) == 3
        bad = run_module("tfgrad.client", f"--server=127.0.0.1:{port[1]}", "--model_name=cgir",
                         "--item=NOPE", "--attribute=floral")
        assert bad.returncode == 2
        assert "error: INVALID_ARGUMENT: unknown item id(s): NOPE" in bad.stderr
        gradual = run_module("tfgrad.client", f"--server=127.0.0.1:{port[1]}",
                             "--model_name=cgir", "--item=SKU000001", "--attribute=floral",
                             "--steps=3", "--decoding=gradual")
        assert gradual.returncode == 0, gradual.stderr
        bad_decoding = run_module("tfgrad.client", f"--server=127.0.0.1:{port[1]}",
                                  "--model_name=cgir", "--item=SKU000001",
                                  "--attribute=floral", "--decoding=sideways")
        assert bad_decoding.returncode == 2
        assert "error: INVALID_ARGUMENT: decoding must be one of" in bad_decoding.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=60)
    assert server.returncode == 0
    assert "stopped" in output


def test_serve_names_a_missing_base_path(tmp_path):
    result = run_module("tfgrad.serve", "--model_name=cgir",
                        f"--model_base_path={tmp_path / 'none'}", "--port=0")
    assert result.returncode == 2 and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def served_recommender(tmp_path_factory):
    """A recommender export of 3 users and 12 items, served over gRPC and REST."""
    from tfgrad.export.recommend import RecommenderServingModule
    from tfgrad.spaces import ItemSpace, UserSpace

    rng = np.random.default_rng(0)
    users = UserSpace(np.array(["ann", "bob", "cy"]), rng.normal(size=(3, 4)),
                      [np.array([0]), np.array([1, 2]), np.array([3])])
    items = ItemSpace(np.array([f"a{k}" for k in range(12)]),
                      np.array([f"art {k}" for k in range(12)]), rng.normal(size=(12, 4)))
    base = str(tmp_path_factory.mktemp("serving") / "dvbpr")
    save_versioned(RecommenderServingModule(users, items), base, {})
    manager = ModelManager("dvbpr", base, poll_seconds=0)
    manager.start()
    server = ModelServer(manager, "127.0.0.1", 0, _free_port(), max_request_rows=64).start()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    yield {"users": users, "items": items, "server": server,
           "predict": prediction_service_pb2_grpc.PredictionServiceStub(channel)}
    channel.close()
    server.stop(1)
    manager.stop()


def test_a_recommender_export_is_served_with_tf_serving_status_codes(served_recommender):
    users, items = served_recommender["users"], served_recommender["items"]
    predict = served_recommender["predict"]
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "dvbpr"
    request.model_spec.signature_name = "recommend"
    request.inputs["user_id"].CopyFrom(tf.make_tensor_proto(np.array([b"bob"])))
    request.inputs["k"].CopyFrom(tf.make_tensor_proto(np.int32(3)))
    response = predict.Predict(request, timeout=30)
    got = tf.make_ndarray(response.outputs["item_ids"])[0]
    scores = items.item_vectors @ users.user_vectors[1]
    scores[[1, 2]] = -np.inf
    assert [x.decode() for x in got] == [f"a{k}" for k in np.argsort(-scores)[:3]]

    request.inputs["user_id"].CopyFrom(tf.make_tensor_proto(np.array([b"nobody"])))
    with pytest.raises(grpc.RpcError) as error:
        predict.Predict(request, timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown user id(s)" in error.value.details()
    assert "Traceback" not in error.value.details()

def test_score_errors_name_the_unknown_ids_over_grpc_and_rest(served_recommender):
    # The score signature's assertion fails as "Graph execution error: … Detected at node …";
    # the answer must still be the assertion's own message.
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "dvbpr"
    request.model_spec.signature_name = "score"
    request.inputs["user_id"].CopyFrom(tf.make_tensor_proto(np.array([b"bob"])))
    request.inputs["item_id"].CopyFrom(tf.make_tensor_proto(np.array([[b"a1", b"nosuch"]])))
    with pytest.raises(grpc.RpcError) as error:
        served_recommender["predict"].Predict(request, timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details() == "unknown item id(s): nosuch"
    status, answer = _rest(served_recommender, "/v1/models/dvbpr:predict", {
        "signature_name": "score", "inputs": {"user_id": ["bob"], "item_id": [["nosuch"]]}})
    assert status == 400 and answer["error"] == "unknown item id(s): nosuch"
    status, answer = _rest(served_recommender, "/v1/models/dvbpr:predict", {
        "signature_name": "score", "inputs": {"user_id": ["nobody"], "item_id": [["a1"]]}})
    assert status == 400 and answer["error"] == "unknown user id(s): nobody"
