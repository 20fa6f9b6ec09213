"""Bad input at the command line: one line naming the problem, exit code 2, no traceback."""

import numpy as np
import pytest

from support.cli_helpers import run_module
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


@pytest.mark.parametrize("args, fragments", [
    (["--item=NOPE", "--attribute=floral"], ["unknown item id 'NOPE'"]),
    (["--item=SKU000003", "--attribute=flroal"], ["unknown attribute(s) 'flroal'", "known:"]),
    (["--item=SKU000003", "--attribute=floral", "--steps=0"], ["steps must be in"]),
    (["--item=SKU000003", "--attribute=floral,dark"], ["2 attribute(s) but 1 direction(s)"]),
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
    result = run_module("tfgrad.train", f"--flagfile={corrupt}")
    assert result.returncode != 0 and "no_such_flag" in result.stderr
    assert "Traceback" not in result.stderr
    missing = run_module("tfgrad.train", f"--flagfile={tmp_path / 'missing.cfg'}")
    assert missing.returncode != 0 and "missing.cfg" in missing.stderr
    assert "Traceback" not in missing.stderr
