"""CGIR's training step, full softmax against sampled softmax, by catalogue size: step time
(p50, p99) and peak memory, each configuration in a process of its own.

  python benchmarks/scale_benchmark.py [--sizes=10000,100000,1000000] [--num_sampled=1024]

The catalogue is synthetic and generated here from a seed per size: item popularity ∝
1/(rank + 10), a batch of --users users with --items_per_user items each drawn from it, and
--triples random alignment triples. The model is CGIR as `tfgrad.train` builds it (cosine
similarity, D = --latent_dim, encoder --hidden_dims), trained by its own `train_step` with
Adam; the sampled run draws --num_sampled items per step from the popularity proposal. A
child that fails (killed for memory) or exceeds --timeout is reported as such, measured.

Besides the step, each child times the same loss and gradients without the optimizer's
update ("no update"): the difference is Adam's dense update of every weight and slot, which
touches all M rows whatever the softmax. It also reports what the step's state holds (the
model's weights and Adam's two slots) as bytes per item of the catalogue.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from workloads import peak_rss_mib  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("sizes", ["10000", "100000", "1000000"], "Catalogue sizes M.")
flags.DEFINE_integer("users", 128, "Users per step (the VAE's batch).")
flags.DEFINE_integer("items_per_user", 50, "Interactions of each user in the batch.")
flags.DEFINE_integer("triples", 256, "Alignment triples per step.")
flags.DEFINE_integer("latent_dim", 64, "D of the item table.")
flags.DEFINE_list("hidden_dims", ["256"], "The VAE encoder's hidden sizes.")
flags.DEFINE_integer("num_sampled", 1024, "Items drawn per step by the sampled softmax.")
flags.DEFINE_integer("steps", 20, "Timed steps per configuration (after 3 warm-up steps).")
flags.DEFINE_integer("timeout", 900, "Seconds a configuration may take before it is stopped.")
flags.DEFINE_enum("child_softmax", None, ["full", "sampled"],
                  "Internal: time this softmax alone and write its figures to --child_output.")
flags.DEFINE_integer("child_size", None, "Internal: the child's catalogue size.")
flags.DEFINE_string("child_output", None, "Internal: where the child writes its JSON.")

NUM_ATTRIBUTES = 8
BATCHES = 2  # distinct batches in turn (a 1M-item batch of dense rows is 512 MB)


def workload(size):
    """The size's popularity counts and `BATCHES` training batches, the same in every process."""
    rng = np.random.default_rng(size)
    popularity = 1.0 / (np.arange(size) + 10.0)
    popularity /= popularity.sum()
    counts = np.round(popularity * 50 * size).astype(np.int64)  # ~50 interactions per item
    batches = []
    for _ in range(BATCHES):
        interactions = np.zeros((FLAGS.users, size), np.float32)
        for row in interactions:
            row[rng.choice(size, FLAGS.items_per_user, replace=False, p=popularity)] = 1.0
        reference = rng.integers(size, size=FLAGS.triples)
        batches.append({
            "interactions": tf.constant(interactions),
            "reference": tf.constant(reference),
            "target": tf.constant((reference + 1 + rng.integers(size - 1, size=FLAGS.triples))
                                  % size),
            "attribute": tf.constant(rng.integers(NUM_ATTRIBUTES, size=FLAGS.triples)),
            "direction": tf.constant(rng.choice([-1, 1], size=FLAGS.triples))})
    return counts, batches


def run_child(softmax, size, output):
    import keras

    from tfgrad.models.cgir import CGIR

    counts, batches = workload(size)
    rng = np.random.default_rng(0)
    model = CGIR(size, rng.normal(size=(NUM_ATTRIBUTES, 50)).astype(np.float32),
                 np.eye(NUM_ATTRIBUTES, dtype=np.float32), latent_dim=FLAGS.latent_dim,
                 hidden_dims=[int(h) for h in FLAGS.hidden_dims], softmax=softmax,
                 num_sampled=FLAGS.num_sampled, proposal="popularity",
                 item_counts=counts if softmax == "sampled" else None)
    model.build()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    @tf.function
    def gradients(batch):
        with tf.GradientTape() as tape:
            loss = model.compute_losses(batch, training=True)["loss"]
        # Each gradient densified as the optimizer would (a gathered table's gradient is
        # IndexedSlices); one element of each is returned, not the gradients themselves, whose
        # copy out of the graph would cost more than computing them at 1M items.
        return loss + tf.add_n([tf.reshape(tf.convert_to_tensor(gradient), [-1])[0]
                                for gradient in tape.gradient(loss, model.trainable_weights)])

    step = tf.function(model.train_step)
    figures = {}
    for name, run in (("step", lambda b: step(b)["loss"]), ("no_update", lambda b: gradients(b))):
        for k in range(3):
            run(batches[k % BATCHES])
        seconds = []
        for k in range(FLAGS.steps):
            started = time.perf_counter()
            run(batches[k % BATCHES]).numpy()  # waits for the step
            seconds.append(time.perf_counter() - started)
        figures[name] = seconds
    state = sum(v.numpy().nbytes for v in model.optimizer.variables + model.weights)
    with open(output, "w") as f:
        json.dump({"p50": float(np.percentile(figures["step"], 50)),
                   "p99": float(np.percentile(figures["step"], 99)),
                   "no_update_p50": float(np.percentile(figures["no_update"], 50)),
                   "peak_mib": peak_rss_mib(), "state_bytes_per_item": state / size}, f)


def child_figures(softmax, size, directory):
    """The child's figures, or {"failed": why} when it dies or overruns (measured, not guessed)."""
    output = os.path.join(directory, f"{softmax}_{size}.json")
    command = [sys.executable, os.path.abspath(__file__), f"--child_softmax={softmax}",
               f"--child_size={size}", f"--child_output={output}",
               f"--users={FLAGS.users}", f"--items_per_user={FLAGS.items_per_user}",
               f"--triples={FLAGS.triples}", f"--latent_dim={FLAGS.latent_dim}",
               f"--hidden_dims={','.join(FLAGS.hidden_dims)}",
               f"--num_sampled={FLAGS.num_sampled}", f"--steps={FLAGS.steps}"]
    started = time.perf_counter()
    try:
        finished = subprocess.run(command, cwd=os.path.dirname(os.path.abspath(__file__)),
                                  timeout=FLAGS.timeout, capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        return {"failed": f"over {FLAGS.timeout} s"}
    if finished.returncode != 0:
        last = (finished.stderr.strip().splitlines() or ["?"])[-1][:80]
        reason = "killed (out of memory?)" if finished.returncode == -9 else last
        return {"failed": f"exit {finished.returncode} after "
                          f"{time.perf_counter() - started:.0f} s: {reason}"}
    with open(output) as f:
        return json.load(f)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    if FLAGS.child_softmax:
        run_child(FLAGS.child_softmax, FLAGS.child_size, FLAGS.child_output)
        return
    print(f"CGIR train_step (Adam), {FLAGS.users} users x {FLAGS.items_per_user} items + "
          f"{FLAGS.triples} triples per step; D = {FLAGS.latent_dim}, encoder "
          f"{','.join(FLAGS.hidden_dims)}; sampled: {FLAGS.num_sampled} draws, popularity "
          f"proposal; {FLAGS.steps} timed steps; each configuration in its own process")
    print(f"{'items':>9} {'softmax':<8} {'p50 ms':>9} {'p99 ms':>9} {'no update':>10} "
          f"{'peak MiB':>9} {'state B/item':>13} {'full/sampled p50':>17} "
          f"{'full/sampled peak':>18}")
    with tempfile.TemporaryDirectory() as directory:
        for size in (int(s) for s in FLAGS.sizes):
            figures = {softmax: child_figures(softmax, size, directory)
                       for softmax in ("full", "sampled")}
            full, sampled = figures["full"], figures["sampled"]
            both = "failed" not in full and "failed" not in sampled
            for softmax, row in figures.items():
                if "failed" in row:
                    print(f"{size:>9} {softmax:<8} {row['failed']}")
                    continue
                ratios = (f"{full['p50'] / sampled['p50']:>16.2f}x "
                          f"{full['peak_mib'] / sampled['peak_mib']:>17.2f}x"
                          if both and softmax == "sampled" else "")
                print(f"{size:>9} {softmax:<8} {1000 * row['p50']:>9.1f} "
                      f"{1000 * row['p99']:>9.1f} {1000 * row['no_update_p50']:>10.1f} "
                      f"{row['peak_mib']:>9.0f} "
                      f"{row['state_bytes_per_item']:>13.0f} {ratios}")


if __name__ == "__main__":
    app.run(main)
