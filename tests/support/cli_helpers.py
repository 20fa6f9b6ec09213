"""Running tfgrad's entry points as a user does: `python -m tfgrad.X` in a subprocess."""

import os
import subprocess
import sys

# tests/support/cli_helpers.py -> the repository root, three levels up.
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The shipped embedded-default config, shrunk: small enough for seconds of training, large
# enough that quality comparisons mean something.
TINY_TRAIN_FLAGS = [
    f"--flagfile={os.path.join(REPO, 'configs', 'cgir_synthetic.cfg')}",
    "--num_items=600", "--num_users=900", "--num_attributes=8", "--latent_dim=32",
    "--hidden_dims=64", "--steps=400", "--checkpoint_every=100", "--eval_every=200",
    "--max_eval_queries=2000", "--strategy=one_device",
]


def environment():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}


def run_module(module, *args, timeout=900):
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          timeout=timeout, env=environment())


def start_module(module, *args):
    return subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=environment())
