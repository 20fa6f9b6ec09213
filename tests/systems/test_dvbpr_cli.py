"""The recommenders as a user runs them: `python -m tfgrad.train` and `tfgrad.evaluate --models`
on a photo shop in the generic layouts, and one-line errors for bad input."""

import json
import os

import pytest

from support.cli_helpers import REPO, run_module
from support.photo_catalogue import write_photo_shop

TINY = ["--latent_dim=16", "--image_size=24", "--cnn_width=0.125", "--feature_dim=16",
        "--feature_steps=100", "--steps=100", "--checkpoint_every=50", "--eval_every=50",
        "--triple_batch_size=64", "--learning_rate=0.01", "--strategy=one_device",
        "--auc_negatives=20", "--top_k=5"]


@pytest.fixture(scope="module")
def shop_flags(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cli_shop")
    images_dir, interactions = write_photo_shop(str(directory))
    return [f"--flagfile={os.path.join(REPO, 'configs', 'dvbpr_hm.cfg')}",
            "--dataset=interactions", f"--images_dir={images_dir}",
            f"--interactions_path={interactions}", *TINY]


@pytest.mark.slow
def test_train_dvbpr_from_the_command_line(shop_flags, tmp_path):
    result = run_module("tfgrad.train", *shop_flags, f"--work_dir={tmp_path / 'run'}",
                        f"--export_dir={tmp_path / 'exports'}")
    assert result.returncode == 0, result.stderr
    assert "selected step" in result.stdout and "| DVBPR |" in result.stdout
    assert "| RAND |" in result.stdout and "| PopRank |" in result.stdout
    assert "validation at step 50" in result.stdout
    assert (tmp_path / "run" / "recommendations.png").exists()
    assert (tmp_path / "exports" / "dvbpr_hm" / "1" / "saved_model.pb").exists()
    assert (tmp_path / "exports" / "dvbpr_hm_stock" / "1" / "saved_model.pb").exists()
    assert "Traceback" not in result.stderr
    trained_row = next(line for line in result.stdout.splitlines() if "| DVBPR |" in line)
    again = run_module("tfgrad.evaluate", f"--work_dir={tmp_path / 'run'}")
    assert again.returncode == 0, again.stderr
    assert trained_row.split("|")[2].strip() in again.stdout  # the same selected weights
    walk = run_module("tfgrad.walk", f"--export_dir={tmp_path / 'exports' / 'dvbpr_hm'}",
                      "--item=item000", "--attribute=red", "--direction=more")
    assert walk.returncode == 2 and "cannot walk" in walk.stderr
    export = str(tmp_path / "exports" / "dvbpr_hm")
    top = run_module("tfgrad.recommend", f"--export_dir={export}", "--user=u001", "--k=4")
    assert top.returncode == 0, top.stderr
    assert "top 4 new items for user u001" in top.stdout and " 4. item" in top.stdout
    scored = run_module("tfgrad.recommend", f"--export_dir={export}", "--user=u001",
                        "--items=item000,item001")
    assert scored.returncode == 0 and "item001" in scored.stdout
    unknown = run_module("tfgrad.recommend", f"--export_dir={export}", "--user=nobody")
    assert unknown.returncode == 2 and "unknown user id(s): nobody" in unknown.stderr


def test_evaluate_compares_recommenders_over_seeds(shop_flags, tmp_path):
    output = tmp_path / "table.json"
    result = run_module("tfgrad.evaluate", *shop_flags, f"--work_dir={tmp_path / 'runs'}",
                        "--models=rand,poprank,bprmf", "--seeds=2", f"--output={output}")
    assert result.returncode == 0, result.stderr
    assert "test AUC (2 seed(s))" in result.stdout
    rows = json.loads(output.read_text())["tables"]["auc"]
    assert list(rows) == ["RAND", "PopRank", "BPR-MF"]
    assert len(rows["BPR-MF"]["auc_all"]["values"]) == 2
    assert rows["BPR-MF"]["auc_all"]["mean"] > rows["RAND"]["auc_all"]["mean"]


@pytest.mark.parametrize("flags, message", [
    (["--model=dvbpr", "--dataset=synthetic"], "use --dataset=hm or --dataset=interactions"),
    (["--dataset=interactions", "--model=dvbpr"], "needs --interactions_path"),
    (["--dataset=hm", "--hm_dir=/nowhere", "--model=bprmf"], "is missing"),
    (["--precision=float8"], "precision"),
])
def test_bad_recommender_input_is_one_line(flags, message, tmp_path):
    result = run_module("tfgrad.train", *TINY, f"--work_dir={tmp_path}", *flags)
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr


def test_missing_photos_and_mixed_models_are_one_line(shop_flags, tmp_path):
    result = run_module("tfgrad.train", *shop_flags, f"--work_dir={tmp_path}",
                        f"--images_dir={tmp_path / 'no_photos'}")
    assert result.returncode == 2 and "image folder" in result.stderr
    result = run_module("tfgrad.evaluate", *shop_flags, f"--work_dir={tmp_path}",
                        "--models=cgir,dvbpr")
    assert result.returncode == 2 and "mixes models of the systems cgir, dvbpr" in result.stderr
