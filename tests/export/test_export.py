"""Export: signatures, reload in a fresh process, ScaNN vs exact, stock-ops twin, bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from support.exports import save_walk_export, walk_module
from tfgrad.data.synthetic import SyntheticCatalogueConfig, generate_catalogue
from tfgrad.export.versioned import load_export, resolve_version, save_versioned
from tfgrad.export.walk import WALK_EXACT_SIGNATURE, WALK_SIGNATURE
from tfgrad.retrieval.index import BruteForceIndex, ScannSettings
from tfgrad.retrieval.walk import Walker
from tfgrad.spaces import LinearMove
from tfgrad.systems.cgir import catalogue_space

NUM_ITEMS, DIM = 3000, 32


@pytest.fixture(scope="module")
def space():
    catalogue = generate_catalogue(SyntheticCatalogueConfig(num_items=NUM_ITEMS, num_users=50,
                                                            num_attributes=6, seed=3))
    rng = np.random.default_rng(0)
    # Clustered, like a trained item table (isotropic noise is the worst case for partitioning).
    centres = rng.normal(size=(30, DIM))
    item_vectors = (centres[rng.integers(30, size=NUM_ITEMS)]
                    + 0.5 * rng.normal(size=(NUM_ITEMS, DIM))).astype(np.float32)
    attribute_vectors = rng.uniform(0, 1, size=(6, DIM)).astype(np.float32)
    return catalogue, item_vectors, attribute_vectors


@pytest.fixture(scope="module")
def exported(space, tmp_path_factory):
    catalogue, item_vectors, attribute_vectors = space
    base = str(tmp_path_factory.mktemp("exports") / "model")
    # Forced partitioning + asymmetric hashing, so `walk` really is approximate here.
    path = save_walk_export(
        catalogue, item_vectors, attribute_vectors, base, {"model": "test", "step_size": 0.1},
        scann_settings=ScannSettings(num_leaves=40, num_leaves_to_search=10))
    stock_path = save_walk_export(catalogue, item_vectors, attribute_vectors, base + "_stock",
                                  {"model": "test"}, with_scann=False)
    return base, path, stock_path


def _request(items, attributes, directions, steps, decoding=""):
    return dict(item=tf.constant(items), attribute=tf.constant(attributes),
                direction=tf.constant(directions), steps=tf.constant(steps, tf.int32),
                decoding=tf.constant(decoding))


def _graph_ops(path):
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    graph = saved_model.meta_graphs[0].graph_def
    ops = {node.op for node in graph.node}
    for function in graph.library.function:
        ops |= {node.op for node in function.node_def}
    return ops


def test_versions_and_layout(exported):
    base, path, _ = exported
    assert path == os.path.join(base, "1")
    assert resolve_version(base) == path
    assert not [name for name in os.listdir(base) if name.startswith(".staging")]
    with open(os.path.join(path, "assets.extra", "tfgrad_export.json")) as f:
        assert json.load(f)["version"] == 1


def test_walk_exact_reloaded_in_a_fresh_process_equals_in_memory_walk(space, exported):
    catalogue, item_vectors, attribute_vectors = space
    _, path, _ = exported
    items = ["SKU000010", "SKU000777", "SKU002999"]
    script = f"""
import json, tensorflow as tf, scann
m = tf.saved_model.load({path!r})
r = m.signatures["walk_exact"](item=tf.constant({items!r}),
    attribute=tf.constant(["floral", "dark,formal", "striped"]),
    direction=tf.constant(["more", "less,more", "less"]), steps=tf.constant(10), decoding=tf.constant(""))
print(json.dumps({{"ids": r["item_ids"].numpy().astype(str).tolist(),
                  "scores": r["scores"].numpy().tolist()}}))
"""
    output = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                            text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    reloaded = json.loads(output.stdout.strip().splitlines()[-1])

    walker = Walker(item_vectors, LinearMove(attribute_vectors), BruteForceIndex(item_vectors))
    weights = np.zeros((3, 6), np.float32)
    weights[0, catalogue.attributes.index("floral")] = 1
    weights[1, catalogue.attributes.index("dark")] = -1
    weights[1, catalogue.attributes.index("formal")] = 1
    weights[2, catalogue.attributes.index("striped")] = -1
    walk = walker.walk(catalogue.item_index(items), weights, 10, 0.1)
    assert reloaded["ids"] == catalogue.item_ids[walk.items.numpy()].tolist()
    np.testing.assert_allclose(reloaded["scores"], walk.scores.numpy(), rtol=1e-5)


def test_exported_gradual_walk_equals_in_memory_gradual_walk(space, exported):
    catalogue, item_vectors, attribute_vectors = space
    loaded = load_export(exported[0])
    items = ["SKU000010", "SKU000777", "SKU002999"]
    request = _request(items, ["floral", "dark,formal", "striped"], ["more", "less,more", "less"],
                       10, "gradual")
    exported_walk = loaded.saved_model.signatures[WALK_EXACT_SIGNATURE](**request)

    space_in_memory = catalogue_space(catalogue, item_vectors, LinearMove(attribute_vectors))
    walker = Walker.over(space_in_memory)
    weights = np.zeros((3, 6), np.float32)
    weights[0, catalogue.attributes.index("floral")] = 1
    weights[1, catalogue.attributes.index("dark")] = -1
    weights[1, catalogue.attributes.index("formal")] = 1
    weights[2, catalogue.attributes.index("striped")] = -1
    walk = walker.walk(catalogue.item_index(items), weights, 10, 0.1, decoding="gradual")
    assert (exported_walk["item_ids"].numpy().astype(str).tolist()
            == catalogue.item_ids[walk.items.numpy()].tolist())
    # ... and it differs from the greedy walk the export gives by default.
    greedy = loaded.saved_model.signatures[WALK_EXACT_SIGNATURE](**_request(
        items, ["floral", "dark,formal", "striped"], ["more", "less,more", "less"], 10))
    assert (greedy["item_ids"].numpy() != exported_walk["item_ids"].numpy()).any()


def test_scann_walk_agrees_with_exact_walk(space, exported):
    catalogue, _, _ = space
    loaded = load_export(exported[0])
    rng = np.random.default_rng(1)
    references = catalogue.item_ids[rng.choice(NUM_ITEMS, 64, replace=False)].tolist()
    attributes = rng.choice(catalogue.attributes, 64).tolist()
    directions = rng.choice(["more", "less"], 64).tolist()
    request = _request(references, attributes, directions, 10)
    exact = loaded.saved_model.signatures[WALK_EXACT_SIGNATURE](**request)["item_ids"].numpy()
    approximate = loaded.saved_model.signatures[WALK_SIGNATURE](**request)["item_ids"].numpy()
    recall = np.mean([len(set(a) & set(e)) / len(e) for a, e in zip(approximate, exact)])
    assert recall >= 0.9
    # The ids are real items and each walk has no repeats and never the reference.
    for reference, walk in zip(references, exact.astype(str)):
        assert len(set(walk)) == len(walk) and reference not in walk


def test_stock_export_holds_only_stock_ops_and_loads_without_scann(exported):
    _, path, stock_path = exported
    scann_ops = {op for op in _graph_ops(path) if op.startswith("Scann")}
    assert scann_ops  # the check below can fail: the full export does hold ScaNN ops
    assert not {op for op in _graph_ops(stock_path) if op.startswith("Scann")}
    registered = set(tf.raw_ops.__dict__)
    assert _graph_ops(stock_path) - registered <= {"NoOp", "Const", "Placeholder"} | registered

    script = f"""
import tensorflow as tf
m = tf.saved_model.load({stock_path!r})
print(sorted(m.signatures))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr
    assert "walk_exact" in result.stdout and "'walk'" not in result.stdout
    # Without `import scann` the full export cannot load: that is why the stock twin exists.
    failing = subprocess.run([sys.executable, "-c", script.replace(stock_path, path)],
                             capture_output=True, text=True,
                             env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert failing.returncode != 0 and "Scann" in failing.stderr


def test_saved_model_cli_lists_the_signatures(exported):
    _, _, stock_path = exported
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "saved_model_cli"), "show", "--dir",
         stock_path, "--all"], capture_output=True, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr
    for text in ("signature_def['walk_exact']", "inputs['item']", "inputs['attribute']",
                 "inputs['direction']", "inputs['steps']", "inputs['decoding']", "outputs['item_ids']",
                 "outputs['scores']"):
        assert text in result.stdout


@pytest.mark.parametrize("request_args, message", [
    ((["NOPE"], ["floral"], ["more"], 5), "unknown item id"),
    ((["SKU000001"], ["flroal"], ["more"], 5), "unknown attribute"),
    ((["SKU000001"], ["floral"], ["sideways"], 5), "direction must be more or less"),
    ((["SKU000001"], ["floral,dark"], ["more"], 5), "each attribute needs one direction"),
    ((["SKU000001"], [""], ["more"], 5), "empty attribute"),
    ((["SKU000001"], ["floral"], ["more"], 0), "steps must be in"),
    ((["SKU000001"], ["floral"], ["more"], NUM_ITEMS), "steps must be in"),
    ((["SKU000001", "SKU000002"], ["floral"], ["more"], 5), "same length"),
    ((["SKU000001"], ["floral"], ["more"], 5, "best"), "decoding must be one of greedy, gradual"),
])
def test_bad_requests_fail_with_a_message_naming_the_problem(exported, request_args, message):
    loaded = load_export(exported[0])
    for signature in (WALK_EXACT_SIGNATURE, WALK_SIGNATURE):
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            loaded.saved_model.signatures[signature](**_request(*request_args))


def test_second_export_is_a_new_version(space, exported, tmp_path):
    catalogue, item_vectors, attribute_vectors = space
    base = str(tmp_path / "again")
    module = walk_module(catalogue, item_vectors, attribute_vectors, with_scann=False)
    first = save_versioned(module, base, {})
    second = save_versioned(module, base, {})
    assert (os.path.basename(first), os.path.basename(second)) == ("1", "2")
    assert resolve_version(base) == second


def test_missing_export_dir_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_version(str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="no SavedModel"):
        resolve_version(str(tmp_path))


def test_models_config_lists_the_stock_exports_for_tf_serving(exported):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    from tfgrad.export.versioned import write_models_config

    base, _, _ = exported
    path = write_models_config(os.path.dirname(base))
    config = text_format.Parse(open(path).read(), model_server_config_pb2.ModelServerConfig())
    entries = [(c.name, c.base_path, c.model_platform) for c in config.model_config_list.config]
    assert entries == [("model", "/models/model_stock", "tensorflow")]
