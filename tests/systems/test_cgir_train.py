"""The real main job end to end: train (killed and resumed) → evaluate → export → walk CLI."""

import glob
import json
import os
import re
import time

import pytest
import tensorflow as tf

from support.cli_helpers import TINY_TRAIN_FLAGS, run_module, start_module


def _summary_tags(log_dir):
    tags = set()
    for path in glob.glob(os.path.join(log_dir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tags.add((value.tag, value.metadata.plugin_data.plugin_name))
    return tags


@pytest.mark.slow
def test_main_job_resumes_after_a_kill_beats_chance_and_exports(tmp_path):
    work_dir, export_dir = tmp_path / "run", tmp_path / "exports"
    args = [*TINY_TRAIN_FLAGS, f"--work_dir={work_dir}", f"--export_dir={export_dir}",
            "--name=tiny"]

    # Kill -9 the first run as soon as it has written a checkpoint.
    metadata = work_dir / "backup" / "training_metadata.json"
    first = start_module("tfgrad.train", *args)
    deadline = time.monotonic() + 600
    while not metadata.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    first.kill()
    first.communicate()
    assert metadata.exists(), "the first run wrote no checkpoint"
    checkpointed_epochs = json.loads(metadata.read_text())["epoch"]
    assert 1 <= checkpointed_epochs < 4

    second = run_module("tfgrad.train", *args)
    assert second.returncode == 0, second.stderr
    steps = [int(s) for s in re.findall(r"^step (\d+)/400", second.stdout, re.MULTILINE)]
    # Resumed after the last checkpoint: nothing before it was trained again.
    assert steps == list(range(100 * (checkpointed_epochs + 1), 401, 100))
    assert "| CGIR (gradual) |" in second.stdout and "| random |" in second.stdout

    rows = json.loads((work_dir / "metrics.json").read_text())["metrics"]
    # Comparisons that can fail: gradual walks beat random sequences, retrieval beats popularity.
    assert rows["CGIR (gradual)"]["mgs_c"] > rows["random"]["mgs_c"] + 0.01
    assert rows["CGIR (gradual)"]["mgs"] > rows["random"]["mgs"]
    assert rows["CGIR (gradual)"]["hr@20"] > rows["popularity"]["hr@20"]
    # ... and training is what does it: the same model untrained sits at chance.
    assert rows["CGIR (gradual)"]["mgs_c"] > rows["untrained CGIR"]["mgs_c"]
    assert rows["CGIR (gradual)"]["hr@20"] > 2 * rows["untrained CGIR"]["hr@20"]
    # Decoding the whole path at once keeps the promise better than the paper's greedy walk,
    # on the same queries, and leaves retrieval (the γ = 1 query's ranking) as it was.
    assert rows["CGIR (gradual)"]["mgs_c"] > rows["CGIR (greedy)"]["mgs_c"]
    assert rows["CGIR (gradual)"]["uneven"] < rows["CGIR (greedy)"]["uneven"]
    assert rows["CGIR (gradual)"]["hr@20"] == rows["CGIR (greedy)"]["hr@20"]
    # With the true relevance as its levels the decoder walks up at almost every step.
    assert rows["CGIR (gradual, true levels)"]["mgs_c"] > 0.95
    assert (work_dir / "walks.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert {("synthetic/mgs", "scalars"), ("synthetic/walk_relevance", "images")} <= _summary_tags(
        str(work_dir / "logs" / "evaluation"))
    assert any(tag.startswith("epoch_loss") or tag == "epoch_alignment"
               for tag, _ in _summary_tags(str(work_dir / "logs" / "train")))

    assert (export_dir / "tiny" / "1" / "saved_model.pb").exists()
    assert (export_dir / "tiny_stock" / "1" / "saved_model.pb").exists()
    walk = run_module("tfgrad.walk", f"--export_dir={export_dir / 'tiny'}", "--item=SKU000005",
                      "--attribute=floral", "--direction=less", "--steps=6")
    assert walk.returncode == 0, walk.stderr
    table = [line for line in walk.stdout.splitlines() if re.match(r"^\s+\d+\s+0\.\d\d\s+SKU", line)]
    assert len(table) == 6
    assert "less floral from SKU000005" in walk.stdout

    evaluate = run_module("tfgrad.evaluate", f"--work_dir={work_dir}", "--index=scann",
                          f"--output={tmp_path / 'rows.json'}")
    assert evaluate.returncode == 0, evaluate.stderr
    reevaluated = json.loads((tmp_path / "rows.json").read_text())
    assert reevaluated["synthetic"]["CGIR (gradual)"]["hr@20"] == pytest.approx(rows["CGIR (gradual)"]["hr@20"], abs=0.02)

    # The same work dir with another model configuration is refused, not silently mixed.
    conflict = run_module("tfgrad.train", *args, "--latent_dim=16")
    assert conflict.returncode == 2
    assert "holds a run with a different model" in conflict.stderr
    assert "Traceback" not in conflict.stderr


@pytest.mark.slow
def test_grouped_split_trains_with_no_near_duplicate_leakage(tmp_path):
    work_dir = tmp_path / "run"
    result = run_module("tfgrad.train", *TINY_TRAIN_FLAGS, "--split=grouped", "--steps=30",
                        "--checkpoint_every=30", "--eval_every=30", "--max_eval_queries=100",
                        f"--work_dir={work_dir}", f"--export_dir={tmp_path / 'exports'}")
    assert result.returncode == 0, result.stderr
    # Families are the synthetic catalogue's groups: no test family pair is trained on.
    assert re.search(r"test triples with a same-group training pair: 0/[1-9]\d* \(0\.0%\), "
                     r"target reached from a twin: 0", result.stdout), result.stdout
    assert json.loads((work_dir / "config.json").read_text())["split"] == "grouped"
    assert "CGIR (gradual)" in json.loads(
        (work_dir / "metrics.json").read_text())["tables"]["synthetic"]
