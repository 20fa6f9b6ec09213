"""Bad input at the command line: one line naming the problem, exit code 2, no traceback."""

import dataclasses
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from support.cli_helpers import environment, run_module
from tfgrad import cli
from tfgrad.data.synthetic import SyntheticCatalogueConfig, generate_catalogue
from support.exports import save_walk_export


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    catalogue = generate_catalogue(SyntheticCatalogueConfig(num_items=200, num_users=20,
                                                            num_attributes=4))
    rng = np.random.default_rng(0)
    base = str(tmp_path_factory.mktemp("exports") / "cli")
    save_walk_export(catalogue, rng.normal(size=(200, 8)), rng.uniform(size=(4, 8)), base)
    return base


@pytest.fixture(scope="module")
def photo_export_dir(tmp_path_factory):
    """The synthetic export's catalogue with a photo for every item but SKU000003."""
    from PIL import Image

    catalogue = generate_catalogue(SyntheticCatalogueConfig(num_items=200, num_users=20,
                                                            num_attributes=4))
    photos = tmp_path_factory.mktemp("photos")
    paths = []
    for item in catalogue.item_ids:
        paths.append("" if item == "SKU000003" else str(photos / f"{item}.jpg"))
        if paths[-1]:
            Image.new("RGB", (6, 9), "teal").save(paths[-1])
    rng = np.random.default_rng(0)
    base = str(tmp_path_factory.mktemp("exports") / "photos")
    save_walk_export(dataclasses.replace(catalogue, image_paths=np.array(paths)),
                     rng.normal(size=(200, 8)), rng.uniform(size=(4, 8)), base)
    return base


@pytest.fixture(scope="module")
def recommender_dir(tmp_path_factory):
    from tfgrad.export.recommend import RecommenderServingModule
    from tfgrad.export.versioned import save_versioned
    from tfgrad.spaces import ItemSpace, UserSpace

    rng = np.random.default_rng(0)
    users = UserSpace(np.array(["ann", "bob", "cy"]), rng.normal(size=(3, 4)),
                      [np.array([0]), np.array([1, 2]), np.array([3])])
    items = ItemSpace(np.array([f"a{k}" for k in range(12)]),
                      np.array([f"art {k}" for k in range(12)]), rng.normal(size=(12, 4)))
    base = str(tmp_path_factory.mktemp("exports") / "recommender")
    save_versioned(RecommenderServingModule(users, items), base, {})
    return base


def _assert_clean_error(result, *fragments):
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in error_lines[0]


def test_walk_prints_the_sequence_with_true_relevance(export_dir):
    result = run_module("tfgrad.walk", f"--export_dir={export_dir}", "--item=SKU000003",
                        "--attribute=floral,dark", "--direction=more,less", "--exact")
    assert result.returncode == 0, result.stderr
    assert "more floral, less dark from SKU000003" in result.stdout
    header = result.stdout.splitlines()[1]
    assert "floral" in header and "dark" in header


def test_walk_decodes_greedily_or_gradually(export_dir):
    walks = {}
    for decoding in ("greedy", "gradual"):
        result = run_module("tfgrad.walk", f"--export_dir={export_dir}", "--item=SKU000003",
                            "--attribute=floral", "--steps=6", "--exact",
                            f"--decoding={decoding}")
        assert result.returncode == 0, result.stderr
        assert f"{decoding} decoding" in result.stdout.splitlines()[0]
        walks[decoding] = [line.split()[2] for line in result.stdout.splitlines()[3:]]
    assert len(walks["gradual"]) == len(set(walks["gradual"])) == 6
    assert walks["gradual"] != walks["greedy"]


def test_walk_in_sequence_starts_each_attribute_where_the_last_ended(export_dir):
    result = run_module("tfgrad.walk", f"--export_dir={export_dir}", "--item=SKU000003",
                        "--attribute=floral,dark", "--direction=more,less", "--combine=sequence",
                        "--steps=4")
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.split("\n\n")
    assert first.startswith("more floral from SKU000003")
    last_of_first = first.splitlines()[-1].split()[2]
    assert second.startswith(f"less dark from {last_of_first}")
    rows = [line for line in second.splitlines()[2:] if " SKU" in line]
    assert len(rows) == 5  # the reference and 4 steps


def _plotted_size(export_dir, png_path) -> tuple[int, int]:
    from PIL import Image

    result = run_module("tfgrad.walk", f"--export_dir={export_dir}", "--item=SKU000003",
                        "--attribute=floral", "--steps=3", "--exact", f"--plot={png_path}")
    assert result.returncode == 0, result.stderr
    return Image.open(png_path).size


def test_walk_plot_draws_photos_where_items_have_them(export_dir, photo_export_dir, tmp_path):
    # Relevance curves: one 3.6 x 3.0 in panel at 100 dpi.
    assert _plotted_size(export_dir, tmp_path / "curves.png") == (360, 300)
    # A photo strip: the reference (no photo: a grey tile) and 3 steps in one row, 130 dpi.
    assert _plotted_size(photo_export_dir, tmp_path / "strip.png") == (
        int((1.1 * 4 + 0.6) * 130), int(1.35 * 130))


@pytest.mark.parametrize("args, fragments", [
    (["--item=NOPE", "--attribute=floral"], ["unknown item id 'NOPE'"]),
    (["--item=SKU000003", "--attribute=flroal"], ["unknown attribute(s) 'flroal'", "known:"]),
    (["--item=SKU000003", "--attribute=floral", "--steps=0"], ["steps must be in"]),
    (["--item=SKU000003", "--attribute=floral,dark"], ["2 attribute(s) but 1 direction(s)"]),
    (["--item=SKU000003", "--attribute=floral", "--decoding=best"],
     ["decoding must be one of greedy, gradual", "best"]),
])
def test_walk_rejects_bad_requests(export_dir, args, fragments):
    _assert_clean_error(run_module("tfgrad.walk", f"--export_dir={export_dir}", *args),
                        *fragments)


def test_walk_names_a_missing_export_dir(tmp_path):
    _assert_clean_error(run_module("tfgrad.walk", f"--export_dir={tmp_path / 'none'}",
                                   "--item=x", "--attribute=y"), "does not exist")


def test_train_rejects_bad_values(tmp_path):
    _assert_clean_error(run_module("tfgrad.train", f"--work_dir={tmp_path}", "--steps=-5"),
                        "steps must be positive")
    _assert_clean_error(run_module("tfgrad.train", f"--work_dir={tmp_path}",
                                   "--num_attributes=99"), "num_attributes must be in")


def test_train_names_a_corrupt_or_missing_flagfile(tmp_path):
    corrupt = tmp_path / "corrupt.cfg"
    corrupt.write_text("--num_items=3000\n--no_such_flag=1\n")
    _assert_clean_error(run_module("tfgrad.train", f"--flagfile={corrupt}"), "no_such_flag")
    _assert_clean_error(run_module("tfgrad.train", f"--flagfile={tmp_path / 'missing.cfg'}"),
                        "--flagfile", "missing.cfg")


@pytest.mark.parametrize("module, args, fragments", [
    ("tfgrad.recommend", ["--export_dir=x", "--user=u", "--k=abc"], ["--k=abc"]),
    ("tfgrad.walk", ["--k=abc"], ["flag 'k'"]),
    ("tfgrad.walk", ["--export_dir=x", "--item=a", "--attribute=b", "--steps=abc"],
     ["--steps=abc"]),
    ("tfgrad.train", ["--model=nosuch"], ["--model=nosuch", "cgir", "dvbpr"]),
    ("tfgrad.evaluate", ["--flagfile=nope.cfg"], ["--flagfile", "nope.cfg"]),
    ("tfgrad.walk", ["--item=a", "--attribute=b"], ["--export_dir"]),
    ("tfgrad.serve", ["--model_name=cgir"], ["--model_base_path"]),
    ("tfgrad.client", ["--model_name=cgir", "--attribute=floral"], ["--item"]),
])
def test_bad_flags_give_one_error_line_and_exit_code_2(module, args, fragments):
    result = run_module(module, *args)
    _assert_clean_error(result, *fragments)
    assert result.stderr.splitlines() == [line for line in result.stderr.splitlines()
                                          if line.startswith("error: ")]
    assert "FATAL" not in result.stderr


def test_recommend_names_unknown_ids(recommender_dir):
    good = run_module("tfgrad.recommend", f"--export_dir={recommender_dir}", "--user=bob",
                      "--items=a1,a2")
    assert good.returncode == 0, good.stderr
    # Checked before the signature runs, with examples of known ids.
    _assert_clean_error(run_module("tfgrad.recommend", f"--export_dir={recommender_dir}",
                                   "--user=bob", "--items=a1,nosuch,zz"),
                        "unknown item id(s) 'nosuch', 'zz'", "e.g. a0, a1, a2")
    # Raised by the graph's assertions, in both forms TF gives them.
    for args in (["--items=a1"], ["--k=3"], ["--k=3", "--exact"]):
        _assert_clean_error(run_module("tfgrad.recommend", f"--export_dir={recommender_dir}",
                                       "--user=nobody", *args), "unknown user id(s): nobody")


def _op_error(function, **inputs) -> str:
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        function(**inputs)
    return raised.value.message


def test_op_error_message_of_real_signature_errors(export_dir, recommender_dir):
    from tfgrad.export.versioned import load_export

    walk = load_export(export_dir).saved_model.signatures
    for name in ("walk", "walk_exact"):
        raw = _op_error(walk[name], item=tf.constant(["NOPE", "SKU000003", "NADA"]),
                        attribute=tf.constant(["floral"] * 3),
                        direction=tf.constant(["more"] * 3), steps=tf.constant(3), decoding=tf.constant(""))
        assert cli.op_error_message(raw) == "unknown item id(s): NOPE NADA", raw
    recommender = load_export(recommender_dir).saved_model.signatures
    raw = _op_error(recommender["score"], user_id=tf.constant(["bob"]),
                    item_id=tf.constant([["a1", "nosuch"]]))
    assert raw.startswith("Graph execution error:") and "Detected at node" in raw, raw
    assert cli.op_error_message(raw) == "unknown item id(s): nosuch"
    raw = _op_error(recommender["score"], user_id=tf.constant(["bob", "ann"]),
                    item_id=tf.constant([["a1"]]))
    assert cli.op_error_message(raw) == "item_id needs one row per user_id; got rows 1 2"
    raw = _op_error(recommender["recommend_exact"], user_id=tf.constant(["bob"]),
                    k=tf.constant(0))
    assert cli.op_error_message(raw).startswith("k must be in 1..")


@tf.function
def _checked_double(x):
    check = tf.debugging.Assert(tf.reduce_all(x > 0), ["x must be positive, got", x])
    with tf.control_dependencies([check]):
        return 2 * x


def test_op_error_message_skips_a_python_stack_trace():
    raw = _op_error(_checked_double, x=tf.constant([1, -2]))
    assert "File " in raw  # the trace of a tf.function defined in Python
    assert cli.op_error_message(raw) == "x must be positive, got 1 -2"
    # An eager op's error: "{{function_node __wrapped__GatherV2_…}} … [Op:GatherV2] name: ".
    raw = _op_error(tf.gather, params=tf.constant([1, 2]), indices=tf.constant(5))
    assert cli.op_error_message(raw) == "indices = 5 is not in [0, 2)", raw


def test_verbosity_in_argv():
    assert cli.verbosity_in_argv(["walk", "--item=a"]) is None
    assert cli.verbosity_in_argv(["walk", "--verbosity=1"]) == 1
    assert cli.verbosity_in_argv(["walk", "-v", "2", "--item=a"]) == 2
    assert cli.verbosity_in_argv(["walk", "--v=0", "-v=-1"]) == -1
    assert cli.verbosity_in_argv(["walk", "--verbosity=abc"]) is None
    assert cli.verbosity_in_argv(["walk", "--", "--verbosity=1"]) is None


_TF_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] \S+:\d+\]",
                          re.MULTILINE)


def test_entry_points_start_quietly_unless_verbosity_asks(tmp_path):
    # As from a user's shell: no TF_CPP_MIN_LOG_LEVEL, so the quiet start is the CLI's doing.
    env = {key: value for key, value in environment().items()
           if key != "TF_CPP_MIN_LOG_LEVEL"}
    command = [sys.executable, "-m", "tfgrad.walk", f"--export_dir={tmp_path / 'none'}",
               "--item=a", "--attribute=b"]
    quiet = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert quiet.returncode == 2
    assert quiet.stderr.splitlines() == [
        f"error: export dir {str(tmp_path / 'none')!r} does not exist"], quiet.stderr
    verbose = subprocess.run(command + [f"--verbosity={cli.TF_LOGS_VERBOSITY}"],
                             capture_output=True, text=True, env=env, timeout=300)
    assert verbose.returncode == 2
    assert _TF_LOG_LINE.search(verbose.stderr), verbose.stderr
    assert verbose.stderr.splitlines()[-1].startswith("error: export dir")
