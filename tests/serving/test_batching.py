"""Server-side batching: the batching parameters file, TensorProto conversion, and the batcher
on real walk and recommend exports — merged answers equal lone answers row for row, merging
counted through the signature-call hook, errors kept per request, a full queue refused."""

import os
import threading

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_service_pb2_grpc

from support.cli_helpers import REPO, run_module
from support.exports import save_walk_export
from tfgrad.data.synthetic import SyntheticCatalogueConfig, generate_catalogue
from tfgrad.export.recommend import RecommenderServingModule
from tfgrad.export.versioned import save_versioned
from tfgrad.serving import tensor_protos
from tfgrad.serving.batching import Batcher, OutputLayout, batch_group, learn_layout
from tfgrad.serving.batching_parameters import (BatchingParameters, parse_batching_parameters,
                                                read_batching_parameters)
from tfgrad.serving.client import walk_request, walk_response
from tfgrad.serving.servables import (ModelManager, ServingError, call_signature, check_inputs,
                                      load_servable)
from tfgrad.serving.server import ModelServer
from tfgrad.spaces import ItemSpace, UserSpace

NUM_ITEMS, DIM, NUM_ATTRIBUTES = 300, 8, 4


# --- the batching parameters file -------------------------------------------------------

def test_the_shipped_batching_file_and_tf_serving_defaults():
    shipped = read_batching_parameters(os.path.join(REPO, "configs", "batching.txtpb"))
    assert (shipped.max_batch_size, shipped.batch_timeout_micros, shipped.max_enqueued_batches,
            shipped.num_batch_threads) == (64, 0, 16, 1)
    parsed = parse_batching_parameters(
        "# comment\nmax_batch_size { value: 32 }\nbatch_timeout_micros: { value: 500 }\n"
        'thread_pool_name { value: "walks" }')
    assert (parsed.max_batch_size, parsed.batch_timeout_micros, parsed.thread_pool_name) == (
        32, 500, "walks")
    # Fields left out take SharedBatchScheduler's defaults.
    assert (parsed.max_enqueued_batches, parsed.num_batch_threads) == (
        10, BatchingParameters().num_batch_threads)
    assert parse_batching_parameters("") == BatchingParameters()


@pytest.mark.parametrize("text, message", [
    ("max_batch_sise { value: 8 }", 'has no field named "max_batch_sise"'),
    ("max_batch_size { value: 8 ", "1:25 : Expected \"}\""),
    ("max_batch_size: 8", 'Expected "{"'),
    ("max_batch_size { value: -2 }", "max_batch_size must be at least 1, got -2"),
    ("num_batch_threads { value: 0 }", "num_batch_threads must be at least 1"),
    ("allowed_batch_sizes: 8", "allowed_batch_sizes is not supported"),
    ("pad_variable_length_inputs: true", "pad_variable_length_inputs is not supported"),
])
def test_a_bad_batching_file_is_a_clear_error(tmp_path, text, message):
    path = tmp_path / "batching.txtpb"
    path.write_text(text)
    with pytest.raises(ValueError) as raised:
        read_batching_parameters(str(path))
    assert message in str(raised.value) and str(path) in str(raised.value)


@pytest.mark.slow
def test_serve_refuses_a_corrupt_batching_file_in_one_line(tmp_path):
    path = tmp_path / "batching.txtpb"
    path.write_text("max_batch_size { value: 8 }\nbatch_timeout { value: 1 }\n")
    result = run_module("tfgrad.serve", "--model_name=m", f"--model_base_path={tmp_path}",
                        "--enable_batching", f"--batching_parameters_file={path}")
    assert result.returncode == 2
    assert 'error: ' in result.stderr and 'no field named "batch_timeout"' in result.stderr
    assert "Traceback" not in result.stderr


# --- TensorProto conversion -------------------------------------------------------------

@pytest.mark.parametrize("value, dtype", [
    (np.array([b"SKU1", b"\xff\x00", b""], dtype=object), tf.string),
    (np.array(b"greedy", dtype=object), tf.string),
    (np.int32(7), tf.int32), (np.arange(6, dtype=np.int64).reshape(2, 3), tf.int64),
    (np.linspace(0, 1, 6, dtype=np.float32).reshape(3, 2), tf.float32),
    (np.array([True, False]), tf.bool), (np.float16(0.5), tf.float16),
    (np.zeros((0, 4), np.float32), tf.float32),
])
def test_tensor_protos_match_tensorflows_converters(value, dtype):
    proto = tf.make_tensor_proto(value, dtype=dtype)
    np.testing.assert_array_equal(tensor_protos.to_array(proto), tf.make_ndarray(proto))
    assert tensor_protos.to_array(proto).dtype == tf.make_ndarray(proto).dtype
    written = type(proto)()
    tensor_protos.fill_proto(written, tf.make_ndarray(proto))
    np.testing.assert_array_equal(tf.make_ndarray(written), tf.make_ndarray(proto))
    assert written.dtype == proto.dtype


def test_tensor_protos_defer_to_tensorflow_for_the_uncommon_forms():
    # One value filling a shape of three (TF broadcasts it), and content that does not match
    # its shape (TF refuses it).
    broadcast = tf.make_tensor_proto(np.float32(2.0), shape=[3])
    np.testing.assert_array_equal(tensor_protos.to_array(broadcast), [2.0, 2.0, 2.0])
    corrupt = tf.make_tensor_proto(np.arange(4, dtype=np.float32))
    corrupt.tensor_shape.dim[0].size = 5
    with pytest.raises(Exception):
        tensor_protos.to_array(corrupt)


# --- how outputs come back, and which requests share a call ------------------------------

def test_learn_layout_splits_rows_shares_the_rest_and_refuses_anything_else():
    alone = {"ids": np.zeros((2, 5)), "strengths": np.arange(5.0)}
    doubled = {"ids": np.zeros((4, 5)), "strengths": np.arange(5.0)}
    assert learn_layout(alone, doubled, rows=2) == OutputLayout(
        True, frozenset({"ids"}), frozenset({"strengths"}))
    # An output that changes with the batch but not by rows (a batch mean) cannot be split.
    assert not learn_layout({"mean": np.array([1.0])}, {"mean": np.array([2.0])}, 2).batchable
    assert not learn_layout({"flat": np.zeros(10)}, {"flat": np.zeros(20)}, 2).batchable


# --- the batcher on real exports --------------------------------------------------------

@pytest.fixture(scope="module")
def walk_servable(tmp_path_factory):
    catalogue = generate_catalogue(SyntheticCatalogueConfig(
        num_items=NUM_ITEMS, num_users=20, num_attributes=NUM_ATTRIBUTES))
    rng = np.random.default_rng(0)
    path = save_walk_export(catalogue, rng.normal(size=(NUM_ITEMS, DIM)),
                            rng.uniform(size=(NUM_ATTRIBUTES, DIM)),
                            str(tmp_path_factory.mktemp("batching") / "cgir"))
    return load_servable(path, 1)


@pytest.fixture(scope="module")
def recommend_servable(tmp_path_factory):
    rng = np.random.default_rng(0)
    users = UserSpace(np.array([f"u{k}" for k in range(6)]), rng.normal(size=(6, 4)),
                      [np.array([k]) for k in range(6)])
    items = ItemSpace(np.array([f"a{k}" for k in range(40)]),
                      np.array([f"art {k}" for k in range(40)]), rng.normal(size=(40, 4)))
    base = str(tmp_path_factory.mktemp("batching") / "dvbpr")
    return load_servable(save_versioned(RecommenderServingModule(users, items), base, {}), 1)


def _walk_inputs(servable, signature, items, steps=6):
    """Checked inputs of a walk request: more of the catalogue's first attribute."""
    attribute = servable.export.metadata["attributes"][0]
    return check_inputs(servable, signature, {
        "item": np.array([i.encode() for i in items], dtype=object),
        "attribute": np.array([attribute.encode()] * len(items), dtype=object),
        "direction": np.array([b"more"] * len(items), dtype=object),
        "steps": np.array(steps, np.int32), "decoding": np.array(b"", dtype=object)})


class CountingCall:
    """The batcher's signature call, recording the rows of every call."""

    def __init__(self, block: threading.Event = None):
        self.rows, self.block, self.entered = [], block, threading.Event()

    def __call__(self, servable, signature_name, inputs):
        self.rows.append(max(v.shape[0] for v in inputs.values() if v.ndim))
        self.entered.set()
        if self.block is not None:
            self.block.wait(30)
        return call_signature(servable, signature_name, inputs)


def _run_together(batcher, servable, signature, requests):
    """Sends every request from its own thread at once; returns answers or ServingErrors."""
    answers = [None] * len(requests)

    def send(number):
        try:
            answers[number] = batcher.run(servable, signature, requests[number])
        except ServingError as error:
            answers[number] = error

    threads = [threading.Thread(target=send, args=(n,)) for n in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


def _closing_batcher(rows, call):
    """A batcher whose batch only runs when `rows` rows have come (the timeout is far off)."""
    return Batcher(BatchingParameters(max_batch_size=rows, batch_timeout_micros=30_000_000,
                                      num_batch_threads=1), call=call)


@pytest.mark.parametrize("signature", ["walk", "walk_exact"])
def test_merged_walks_equal_lone_walks_row_for_row_in_one_call(walk_servable, signature):
    item_lists = [["SKU000001"], ["SKU000002", "SKU000150"], ["SKU000299"], ["SKU000007"] * 3]
    requests = [_walk_inputs(walk_servable, signature, items)
                for items in item_lists]
    call = CountingCall()
    batcher = _closing_batcher(7, call)
    try:
        answers = _run_together(batcher, walk_servable, signature, requests)
    finally:
        batcher.stop()
    # One call of all 7 rows (before it, at most the layout's two calls of one request).
    assert call.rows[-1] == 7 and call.rows.count(7) == 1 and len(call.rows) <= 3
    for request, answer in zip(requests, answers):
        alone = call_signature(walk_servable, signature, request)
        assert set(answer) == set(alone)
        np.testing.assert_array_equal(answer["item_ids"], alone["item_ids"])
        np.testing.assert_array_equal(answer["item_names"], alone["item_names"])
        np.testing.assert_allclose(answer["scores"], alone["scores"], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(answer["strengths"], alone["strengths"])  # shared [N]
    assert walk_servable.batch_layouts[signature] == OutputLayout(
        True, frozenset({"item_ids", "item_names", "scores"}), frozenset({"strengths"}))


@pytest.mark.parametrize("signature", ["recommend", "recommend_exact"])
def test_merged_recommendations_equal_lone_ones_row_for_row(recommend_servable, signature):
    users = [["u0"], ["u1", "u2"], ["u5"], ["u3", "u4", "u0"]]
    requests = [check_inputs(recommend_servable, signature, {
        "user_id": np.array([u.encode() for u in batch], dtype=object),
        "k": np.array(5, np.int32)}) for batch in users]
    call = CountingCall()
    batcher = _closing_batcher(7, call)
    try:
        answers = _run_together(batcher, recommend_servable, signature, requests)
    finally:
        batcher.stop()
    assert call.rows[-1] == 7 and call.rows.count(7) == 1
    for request, answer in zip(requests, answers):
        alone = call_signature(recommend_servable, signature, request)
        np.testing.assert_array_equal(answer["item_ids"], alone["item_ids"])
        np.testing.assert_allclose(answer["scores"], alone["scores"], rtol=1e-5, atol=1e-6)


def test_requests_of_other_steps_are_not_merged(walk_servable):
    groups = {batch_group(walk_servable.signatures["walk_exact"], _walk_inputs(
        walk_servable, "walk_exact", items, steps=steps))[0]
        for items, steps in [(["SKU000001"], 6), (["SKU000002", "SKU000003"], 6),
                             (["SKU000001"], 7)]}
    assert len(groups) == 2
    requests = [_walk_inputs(walk_servable, "walk_exact", ["SKU000001"], steps=s)
                for s in (4, 4, 9, 9)]
    call = CountingCall()
    batcher = Batcher(BatchingParameters(max_batch_size=2, batch_timeout_micros=30_000_000),
                      call=call)
    try:
        answers = _run_together(batcher, walk_servable, "walk_exact", requests)
    finally:
        batcher.stop()
    assert [a["item_ids"].shape for a in answers] == [(1, 4), (1, 4), (1, 9), (1, 9)]
    assert call.rows.count(2) == 2  # each steps value its own merged call


def test_a_bad_request_gets_its_own_error_and_its_neighbours_their_answers(walk_servable):
    good = [["SKU000001"], ["SKU000010", "SKU000011"], ["SKU000100"]]
    requests = [_walk_inputs(walk_servable, "walk_exact", items) for items in good]
    requests.insert(2, _walk_inputs(walk_servable, "walk_exact", ["SKU000005", "NOPE"]))
    batcher = _closing_batcher(6, CountingCall())
    try:
        answers = _run_together(batcher, walk_servable, "walk_exact", requests)
    finally:
        batcher.stop()
    bad = answers.pop(2)
    requests.pop(2)
    assert isinstance(bad, ServingError) and bad.code == "INVALID_ARGUMENT"
    assert bad.message == "unknown item id(s): NOPE"
    for request, answer in zip(requests, answers):
        np.testing.assert_array_equal(
            answer["item_ids"], call_signature(walk_servable, "walk_exact", request)["item_ids"])


def test_a_full_queue_answers_unavailable_and_a_large_request_invalid_argument(walk_servable):
    release = threading.Event()
    call = CountingCall(block=release)
    batcher = Batcher(BatchingParameters(max_batch_size=2, max_enqueued_batches=1,
                                         num_batch_threads=1), call=call)
    request = _walk_inputs(walk_servable, "walk_exact", ["SKU000001", "SKU000002"])
    try:
        with pytest.raises(ServingError) as too_large:
            batcher.run(walk_servable, "walk_exact", _walk_inputs(
                walk_servable, "walk_exact", ["SKU000001"] * 3))
        assert too_large.value.code == "INVALID_ARGUMENT"
        assert "Task size 3 is larger than maximum input batch size 2" in too_large.value.message
        running = threading.Thread(target=batcher.run,
                                   args=(walk_servable, "walk_exact", request))
        running.start()
        assert call.entered.wait(30)  # the only batch thread is busy with the first request
        queued = threading.Thread(target=batcher.run, args=(walk_servable, "walk_exact", request))
        queued.start()
        for _ in range(3000):  # until the second request waits in the queue (30 s at most)
            if batcher.queued_batches() == 1:
                break
            queued.join(0.01)
        assert batcher.queued_batches() == 1
        with pytest.raises(ServingError) as full:
            batcher.run(walk_servable, "walk_exact", request)
        assert full.value.code == "UNAVAILABLE"
        assert "queue to which this task was submitted is full" in full.value.message
    finally:
        release.set()
        batcher.stop()
    running.join(30)
    queued.join(30)


def test_a_mixed_storm_over_grpc_with_batching_on(walk_servable):
    manager = ModelManager("cgir", os.path.dirname(walk_servable.path), poll_seconds=0,
                           loader=lambda path, version: walk_servable)
    manager.start()
    batcher = Batcher(BatchingParameters(max_batch_size=16, batch_timeout_micros=2000))
    server = ModelServer(manager, "127.0.0.1", 0, batcher=batcher).start()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    attribute = walk_servable.export.metadata["attributes"][1]
    requests = []
    for number in range(48):
        item = f"SKU{number * 6:06d}"
        requests.append((walk_request("cgir", [item], [attribute], ["less"], 5, "walk"), None))
        bad_item = walk_request("cgir", [item, "NOPE"], [attribute] * 2, ["more"] * 2, 5, "walk")
        bad_steps = walk_request("cgir", [item], [attribute], ["more"], 0, "walk")
        requests.append((bad_item, "unknown item id(s): NOPE") if number % 2 else (
            bad_steps, "steps must be in 1..299"))
    answers = [None] * len(requests)

    def send(numbers):
        for number in numbers:
            try:
                answers[number] = walk_response(stub.Predict(requests[number][0], timeout=60))
            except grpc.RpcError as error:
                answers[number] = error

    threads = [threading.Thread(target=send, args=(range(k, len(requests), 8),))
               for k in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        channel.close()
        server.stop(1)
    inputs = lambda r: {a: tf.make_ndarray(p) for a, p in r.inputs.items()}  # noqa: E731
    for (request, error_message), answer in zip(requests, answers):
        if error_message is None:
            alone = call_signature(walk_servable, "walk", check_inputs(
                walk_servable, "walk", inputs(request)))
            np.testing.assert_array_equal(answer["item_ids"], alone["item_ids"].astype(str))
        else:
            assert answer.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert error_message in answer.details()
