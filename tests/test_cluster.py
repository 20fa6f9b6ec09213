"""tfgrad.cluster: real 2-worker clusters of tfgrad.train on this machine — the workers agree, 2
workers train as 1 process on the same global batch, and a cluster killed mid-run resumes to
the uninterrupted run's weights."""

import json
import os
import re
import signal
import socket
import threading
import time

import h5py
import numpy as np
import pytest

from support.cli_helpers import REPO, run_module, start_module
from tfgrad import cluster

# CGIR w/o VAE on a tiny generated catalogue: it trains on triples alone and draws no noise, so
# runs that see the same batches must end with the same weights (the VAE's noise is drawn per
# replica, so its 2-worker draws cannot equal one process's).
TINY_CLUSTER_FLAGS = [
    f"--flagfile={os.path.join(REPO, 'configs', 'cgir_synthetic.cfg')}", "--model=cgir_no_vae",
    "--num_items=200", "--num_users=300", "--num_attributes=6", "--latent_dim=16",
    "--hidden_dims=32", "--triple_batch_size=64", "--steps=60", "--checkpoint_every=10",
    "--eval_every=60", "--max_eval_queries=100", "--index=brute_force", "--noexport",
    "--name=tiny",
]


def test_tf_config_names_every_worker_and_this_one():
    config = json.loads(cluster.tf_config(["127.0.0.1:1", "127.0.0.1:2"], 1))
    assert config == {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
                      "task": {"type": "worker", "index": 1}}


def test_free_ports_are_distinct_and_bindable():
    ports = cluster.free_ports(4)
    assert len(set(ports)) == 4
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_train_args_are_checked():
    with pytest.raises(ValueError, match="after --"):
        cluster.check_train_args([])
    with pytest.raises(ValueError, match="--strategy=mirrored: a cluster trains with"):
        cluster.check_train_args(["--flagfile=x.cfg", "--strategy=mirrored"])
    cluster.check_train_args(["--flagfile=x.cfg", "--strategy=multi_worker"])


def test_exit_descriptions_name_signals():
    assert cluster.exit_description(3) == "exit code 3"
    assert cluster.exit_description(-9) == "exit code -9 (killed by SIGKILL)"


def test_launcher_without_train_flags_is_a_usage_error():
    result = run_module("tfgrad.cluster", "--workers=2")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: give tfgrad.train's flags after --")


class Launch:
    """A running `python -m tfgrad.cluster`, its output collected as it comes."""

    def __init__(self, *args):
        self.process = start_module("tfgrad.cluster", *args)
        self.lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def worker_pid(self, index):
        for line in self.lines:
            match = re.match(rf"\[cluster\] worker {index}: pid (\d+)", line)
            if match:
                return int(match[1])
        return None

    def finish(self, timeout=300):
        """(exit code, stdout, stderr) once the launcher has ended (its stderr holds its own
        lines only: the workers' go to its stdout)."""
        self.process.wait(timeout=timeout)
        self._reader.join()
        return self.process.returncode, "\n".join(self.lines), self.process.stderr.read()


def _weights(work_dir):
    """{path: array} of a finished run's kept model weights (not the optimizer's state)."""
    weights = {}
    with h5py.File(os.path.join(work_dir, "model.weights.h5")) as f:
        f.visititems(lambda name, item: weights.__setitem__(name, item[()])
                     if isinstance(item, h5py.Dataset) and not name.startswith("optimizer/")
                     else None)
    return weights


def _cluster_run(work_dir, workers=2):
    code, out, err = Launch(f"--workers={workers}", "--", *TINY_CLUSTER_FLAGS,
                            f"--work_dir={work_dir}").finish()
    assert code == 0, out[-3000:] + err
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An uninterrupted 2-worker run, one process on the same global batch, and a 2-worker
    run killed after its first checkpoint and relaunched."""
    base = tmp_path_factory.mktemp("cluster")
    uninterrupted = _cluster_run(base / "two")

    single = run_module("tfgrad.train", *TINY_CLUSTER_FLAGS, "--strategy=one_device",
                        f"--work_dir={base / 'one'}")
    assert single.returncode == 0, single.stderr

    killed_dir = base / "killed"
    launch = Launch("--workers=2", "--", *TINY_CLUSTER_FLAGS, f"--work_dir={killed_dir}")
    metadata = killed_dir / "backup" / "training_metadata.json"
    deadline = time.monotonic() + 300
    while (not metadata.exists() and launch.process.poll() is None
           and time.monotonic() < deadline):
        time.sleep(0.05)
    assert metadata.exists(), "the cluster wrote no checkpoint"
    os.kill(launch.worker_pid(1), signal.SIGKILL)
    killed_code, killed_out, killed_err = launch.finish()
    checkpointed = json.loads(metadata.read_text())["epoch"]
    resumed = _cluster_run(killed_dir)
    return {"dirs": {"two": base / "two", "one": base / "one", "killed": killed_dir},
            "uninterrupted": uninterrupted, "killed": (killed_code, killed_out, killed_err),
            "checkpointed": checkpointed, "resumed": resumed}


@pytest.mark.slow
def test_two_workers_end_with_identical_weights_and_only_the_chief_writes(runs):
    out = runs["uninterrupted"]
    fingerprints = {int(index): value for index, value in re.findall(
        r"^\[worker (\d)\] trained weights fingerprint (\w+)$", out, re.MULTILINE)}
    assert set(fingerprints) == {0, 1}
    assert fingerprints[0] == fingerprints[1]
    assert (f"the 2 workers ended with identical trainable weights (fingerprint "
            f"{fingerprints[0]})") in out
    # Both trained every step; the chief alone evaluated.
    for index in (0, 1):
        assert re.search(rf"^\[worker {index}\] step 60/60 ", out, re.MULTILINE)
    assert "[worker 0] | CGIR w/o VAE (gradual) |" in out
    assert "[worker 1] worker done" in out
    work_dir = runs["dirs"]["two"]
    assert (work_dir / "metrics.json").exists() and (work_dir / "logs" / "train").exists()
    # The other worker wrote only into its temporary dir, and deleted it.
    assert not [name for name in os.listdir(work_dir) if name.startswith("workertemp_")]


@pytest.mark.slow
def test_two_workers_train_as_one_process_on_the_same_global_batch(runs):
    two, one = _weights(runs["dirs"]["two"]), _weights(runs["dirs"]["one"])
    assert two.keys() == one.keys()
    # Each worker's half-batch gradients summed by the all-reduce equal the whole batch's up to
    # float32 rounding (another summation order): seen ≤ 6e-8 on weights of magnitude ≤ 0.4.
    # 60 Adam steps of 1e-3 move a weight by up to 0.06, so a batch split wrongly (another
    # batch, or gradients not averaged) would differ by far more than 1e-6.
    for name in two:
        np.testing.assert_allclose(two[name], one[name], rtol=0, atol=1e-6, err_msg=name)


@pytest.mark.slow
def test_a_killed_worker_stops_the_cluster_and_a_relaunch_resumes_to_the_same_weights(runs):
    code, out, err = runs["killed"]
    assert code == 1
    assert re.search(r"^error: worker 1 \(127\.0\.0\.1:\d+\) ended with exit code -9 \(killed "
                     r"by SIGKILL\); stopped worker 0; run the same command again to resume "
                     r"from the last checkpoint$", err, re.MULTILINE), err
    checkpointed = runs["checkpointed"]
    assert 1 <= checkpointed < 6
    # The relaunch trained only the steps after the checkpoint ...
    steps = [int(step) for step in re.findall(r"^\[worker 0\] step (\d+)/60", runs["resumed"],
                                              re.MULTILINE)]
    assert steps == list(range(10 * (checkpointed + 1), 61, 10))
    # ... on the batches the uninterrupted run saw then, from its exact weights and optimizer
    # state: it ends with the same weights (seen bitwise equal; the tolerance only allows for
    # the all-reduce's float32 rounding, far below what one batch out of place would change).
    resumed, uninterrupted = _weights(runs["dirs"]["killed"]), _weights(runs["dirs"]["two"])
    for name in uninterrupted:
        np.testing.assert_allclose(resumed[name], uninterrupted[name], rtol=0, atol=1e-6,
                                   err_msg=name)
    resumed_rows, uninterrupted_rows = [
        json.loads((runs["dirs"][run] / "metrics.json").read_text())["metrics"]
        for run in ("killed", "two")]
    assert resumed_rows.keys() == uninterrupted_rows.keys()
    for row, values in uninterrupted_rows.items():
        np.testing.assert_allclose([resumed_rows[row][column] for column in values],
                                   list(values.values()), rtol=0, atol=1e-6, err_msg=row)
