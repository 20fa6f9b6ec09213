"""Starting tensorflow-recommenders (TFRS) in a process of its own and trading arrays with it.

TFRS 0.7.7 needs Keras 2: `tf.keras` must resolve to tf_keras, which TensorFlow does only when
TF_USE_LEGACY_KERAS=1 is in the environment. tfgrad is Keras 3, and that variable would turn
every `tf.keras` of its process into Keras 2, so tfgrad never sets it: TFRS runs in a child
process (`python -m tfgrad.peers.tfrs_peer <task> <dir>`) whose environment alone has it.
Arrays go there and back as .npy files in a temporary directory, settings and figures as JSON.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

PEER_MODULE = "tfgrad.peers.tfrs_peer"
# module → the distribution the `peers` extra installs.
PEER_PACKAGES = {"tensorflow_recommenders": "tensorflow-recommenders", "tf_keras": "tf-keras"}
INSTALL_HINT = 'pip install -e ".[peers]"'
REQUEST_FILE = "request.json"
ANSWER_FILE = "answer.json"
_ERROR_LINES = 15


class PeerNotInstalledError(RuntimeError):
    """TFRS or tf_keras is missing: the `peers` extra is not installed."""


class PeerError(RuntimeError):
    """The peer process failed; the message ends with the last lines it wrote to stderr."""


def require_tfrs() -> None:
    """Raises `PeerNotInstalledError` naming the missing packages and the install command."""
    missing = [package for module, package in PEER_PACKAGES.items()
               if importlib.util.find_spec(module) is None]
    if missing:
        raise PeerNotInstalledError(
            f"{' and '.join(missing)} not installed: tensorflow-recommenders runs as an "
            f"optional peer; install it with {INSTALL_HINT}")


def tfrs_environment() -> dict[str, str]:
    """The environment of a TFRS child process: this one's, plus Keras 2 for `tf.keras`, and
    this tfgrad first on the path (so the child runs the same code as its parent)."""
    source_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.pathsep.join(p for p in (source_root, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "TF_USE_LEGACY_KERAS": "1", "PYTHONPATH": path,
            "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}


def run_tfrs(task: str, arrays: dict[str, np.ndarray], settings: dict
             ) -> tuple[dict, dict[str, np.ndarray]]:
    """Runs one `tfgrad.peers.tfrs_peer` task in a fresh process.

    Args:
      task: the peer's task name ("top_k", "two_tower").
      arrays: {name: array} the task reads.
      settings: JSON-serialisable settings of the task.

    Returns:
      (figures, {name: array}) the task answered.

    Raises:
      PeerNotInstalledError: TFRS or tf_keras is not installed.
      PeerError: the peer process failed.
    """
    require_tfrs()
    with tempfile.TemporaryDirectory(prefix="tfgrad-tfrs-") as directory:
        for name, values in arrays.items():
            np.save(os.path.join(directory, f"{name}.npy"), np.asarray(values))
        with open(os.path.join(directory, REQUEST_FILE), "w") as f:
            json.dump(settings, f)
        completed = subprocess.run([sys.executable, "-m", PEER_MODULE, task, directory],
                                   env=tfrs_environment(), stderr=subprocess.PIPE, text=True)
        if completed.returncode:
            tail = "\n".join(completed.stderr.strip().splitlines()[-_ERROR_LINES:])
            raise PeerError(f"the TFRS peer's {task!r} task failed (exit code "
                            f"{completed.returncode}):\n{tail}")
        with open(os.path.join(directory, ANSWER_FILE)) as f:
            figures = json.load(f)
        answered = {name: np.load(os.path.join(directory, f"{name}.npy"))
                    for name in figures.pop("arrays")}
    return figures, answered
