"""Multi-worker CGIR training on one machine: steps/s and examples/s of a plain one-process
run (the peer) and of `tfgrad.cluster` clusters of 1 and 2 workers, on the same config and
global batch, with each one's ratio to the peer.

  python benchmarks/cluster_benchmark.py [--steps=300] [--interval=25] [--workers=1,2]

Each run is the real entry point (`python -m tfgrad.train` / `python -m tfgrad.cluster`) on
configs/cgir_synthetic.cfg (the CGIR VAE, 3,000 items, batches of 128 users + 256 triples;
evaluation cut to 200 queries by brute force, no export). Step times come from the training's
own progress lines, one per `--interval` steps (the first interval, which traces the step, is
left out): p50 / p99 are over those intervals' mean step times. An example is a user row or a
triple. Peak memory is the largest worker's resident set.

On a 2-core machine two workers share the cores a single process already uses, so this measures
the cluster's overhead (per-step all-reduce over loopback gRPC, a second copy of the input
pipeline and model), not scaling; on machines of their own each worker brings its own cores.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 300, "Training steps per run.")
flags.DEFINE_integer("interval", 25, "Steps between progress lines (checkpoints).")
flags.DEFINE_list("workers", ["1", "2"], "Cluster sizes to run.")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USERS_PER_STEP, TRIPLES_PER_STEP = 128, 256  # configs/cgir_synthetic.cfg's defaults
PROGRESS = re.compile(r"^(?:\[worker 0\] )?step (\d+)/\d+ .* ([\d.]+) steps/s$", re.MULTILINE)
# Runs a command and prints its largest descendant's peak resident set (KiB) on stderr.
PEAK_WRAPPER = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
                "print('peak_rss_kib', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
                "file=sys.stderr); sys.exit(code)")


def train_flags(work_dir: str) -> list[str]:
    return [f"--flagfile={os.path.join(REPO, 'configs', 'cgir_synthetic.cfg')}",
            f"--steps={FLAGS.steps}", f"--checkpoint_every={FLAGS.interval}",
            f"--eval_every={FLAGS.steps}", "--max_eval_queries=200", "--index=brute_force",
            "--noexport", f"--work_dir={work_dir}", "--name=bench"]


def timed_run(command: list[str]) -> dict:
    """Runs `command` (in the peak-memory wrapper); its figures from the chief's progress."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, *command], capture_output=True,
                            text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(command[:4])} … failed:\n{result.stdout[-2000:]}"
                 f"{result.stderr[-2000:]}")
    rates = [float(rate) for _, rate in PROGRESS.findall(result.stdout)][1:]
    step_ms = 1000 / np.array(rates)
    steps_per_second = 1000 / np.median(step_ms)
    peak = int(re.search(r"peak_rss_kib (\d+)", result.stderr)[1]) / 1024
    return {"p50": np.median(step_ms), "p99": np.percentile(step_ms, 99),
            "steps/s": steps_per_second,
            "examples/s": steps_per_second * (USERS_PER_STEP + TRIPLES_PER_STEP),
            "peak MiB": peak, "wall s": seconds}


def main(argv):
    del argv
    runs = {}
    with tempfile.TemporaryDirectory() as scratch:
        runs["one process (one_device)"] = timed_run(
            [sys.executable, "-m", "tfgrad.train", *train_flags(os.path.join(scratch, "one")),
             "--strategy=one_device"])
        for workers in map(int, FLAGS.workers):
            runs[f"cluster, {workers} worker{'s' if workers > 1 else ''}"] = timed_run(
                [sys.executable, "-m", "tfgrad.cluster", f"--workers={workers}", "--",
                 *train_flags(os.path.join(scratch, f"cluster{workers}"))])
    peer = runs["one process (one_device)"]
    print(f"CGIR (VAE) on the synthetic catalogue, {FLAGS.steps} steps, global batch "
          f"{USERS_PER_STEP} users + {TRIPLES_PER_STEP} triples, {os.cpu_count()} CPU cores\n")
    print("| run | step ms p50 | step ms p99 | steps/s | examples/s | vs one process | "
          "peak MiB (largest worker) | wall s (whole run) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, run in runs.items():
        print(f"| {name} | {run['p50']:.1f} | {run['p99']:.1f} | {run['steps/s']:.1f} | "
              f"{run['examples/s']:.0f} | {run['steps/s'] / peer['steps/s']:.2f}× | "
              f"{run['peak MiB']:.0f} | {run['wall s']:.1f} |")


if __name__ == "__main__":
    app.run(main)
