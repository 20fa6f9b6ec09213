"""`python -m tfgrad.evaluate --models=... --seeds=...` end to end on a tiny slice of each
setting (the full tables come from the same command with the shipped configs)."""

import json
import os

import pytest

from support.cli_helpers import REPO, TINY_TRAIN_FLAGS, run_module
from support.data_paths import (GENOME_HEAD, HM, ML_SMALL, SOFT_ATTRIBUTES,
                                needs_shared_data)

TINY_MODEL_FLAGS = ["--latent_dim=16", "--hidden_dims=32", "--steps=40",
                    "--checkpoint_every=20", "--eval_every=1000", "--max_eval_queries=100",
                    "--strategy=one_device", "--index=brute_force"]


def _check_comparison(result, output, tables, models):
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    saved = json.loads(output.read_text())
    assert set(saved["tables"]) == set(tables)
    for table in tables:
        rows = saved["tables"][table]
        for model in models:
            assert model in rows
        assert "random" in rows
        # Two seeds: every number is a mean over both, with its spread.
        hr_or_mgs = "mgs_c" if table == "human" else "hr@20"
        assert len(rows[models[0]][hr_or_mgs]["values"]) == 2
        assert f"| {models[0]} |" in result.stdout
    return saved


@needs_shared_data
@pytest.mark.slow
def test_movielens_genome_and_human_tables(tmp_path):
    output = tmp_path / "movielens.json"
    result = run_module(
        "tfgrad.evaluate", f"--flagfile={os.path.join(REPO, 'configs', 'cgir_movielens.cfg')}",
        f"--movielens_dir={ML_SMALL}", f"--genome_dir={GENOME_HEAD}",
        f"--soft_attributes_path={SOFT_ATTRIBUTES}", f"--work_dir={tmp_path / 'runs'}",
        *TINY_MODEL_FLAGS, "--models=cgir,tirg", "--seeds=2", f"--output={output}")
    saved = _check_comparison(result, output, ["genome", "human"], ["CGIR (gradual)", "TIRG (gradual)", "CGIR (greedy)"])
    assert saved["tables"]["human"]["CGIR (gradual)"]["judged_steps"]["mean"] >= 0
    # Trained models are found again, not retrained.
    again = run_module(
        "tfgrad.evaluate", f"--flagfile={os.path.join(REPO, 'configs', 'cgir_movielens.cfg')}",
        f"--movielens_dir={ML_SMALL}", f"--genome_dir={GENOME_HEAD}",
        f"--soft_attributes_path={SOFT_ATTRIBUTES}", f"--work_dir={tmp_path / 'runs'}",
        *TINY_MODEL_FLAGS, "--models=cgir", "--seeds=1", f"--output={tmp_path / 'again.json'}")
    assert again.returncode == 0, again.stderr
    assert "loaded" in again.stdout
    first = json.loads((tmp_path / "again.json").read_text())["tables"]["genome"]["CGIR (gradual)"]
    assert first["hr@20"]["mean"] == pytest.approx(
        saved["tables"]["genome"]["CGIR (gradual)"]["hr@20"]["values"][0])


@needs_shared_data
@pytest.mark.slow
def test_hm_shop_table(tmp_path):
    output = tmp_path / "hm.json"
    result = run_module(
        "tfgrad.evaluate", f"--flagfile={os.path.join(REPO, 'configs', 'cgir_hm.cfg')}",
        f"--hm_dir={HM}", f"--work_dir={tmp_path / 'runs'}", *TINY_MODEL_FLAGS,
        "--max_pairs=2000", "--models=cgir_no_vae,dscmr", "--seeds=2", f"--output={output}")
    saved = _check_comparison(result, output, ["shop"],
                              ["CGIR w/o VAE (gradual)", "DSCMR (gradual)", "DSCMR (greedy)"])
    rows = saved["tables"]["shop"]
    # The other categorical columns a walk keeps: a trained model's walks stay nearer their
    # reference's kind of garment than random items do.
    for row in ("DSCMR (greedy)", "DSCMR (gradual)", "random"):
        assert 0.0 <= rows[row]["kept"]["mean"] <= 1.0
    assert rows["DSCMR (greedy)"]["kept"]["mean"] > rows["random"]["kept"]["mean"]


@pytest.mark.slow
def test_synthetic_table_every_model(tmp_path):
    output = tmp_path / "synthetic.json"
    models = "cgir,cgir_no_sparse,cgir_no_vae,cbir,dscmr,tirg"
    result = run_module(
        "tfgrad.evaluate", *TINY_TRAIN_FLAGS, "--steps=30", "--checkpoint_every=30",
        "--max_eval_queries=100", f"--work_dir={tmp_path / 'runs'}", f"--models={models}",
        "--seeds=2", f"--output={output}")
    saved = _check_comparison(result, output, ["synthetic"],
                              [f"{name} ({decoding})" for decoding in ("gradual", "greedy")
                               for name in ("CGIR", "CGIR w/o Sparse", "CGIR w/o VAE", "CBIR",
                                            "DSCMR", "TIRG")])
    assert "untrained CGIR" in saved["tables"]["synthetic"]


@pytest.mark.parametrize("flags, message", [
    (["--models=cgir,bogus"], "unknown model(s) bogus"),
    (["--models=cgir", "--seeds=0"], "--seeds must be at least 1"),
    (["--models=cgir", "--dataset=movielens"], "needs --movielens_dir"),
    (["--models=cgir", "--dataset=movielens", "--movielens_dir=/no/such/dir"],
     "does not exist"),
])
def test_bad_comparison_requests_name_the_problem(flags, message, tmp_path):
    result = run_module("tfgrad.evaluate", f"--work_dir={tmp_path}", *flags)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
