"""Running tfgrad's entry points as a user does: `python -m tfgrad.X` (in a child forked from a
process with TensorFlow already imported, `cli_zygote.py`), or in a fresh interpreter."""

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

# tests/support/cli_helpers.py -> the repository root, three levels up.
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ZYGOTE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cli_zygote.py")

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


class _Zygote:
    """This test process's `cli_zygote.py`, started on first use."""

    def __init__(self):
        self.process = subprocess.Popen([sys.executable, ZYGOTE], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=environment(), cwd=REPO)
        self.pending = b""
        atexit.register(self.close)

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=60)

    def _reply(self, deadline):
        """The zygote's next reply line, or None once `deadline` (time.monotonic) passes."""
        while b"\n" not in self.pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if select.select([self.process.stdout], [], [], remaining)[0]:
                chunk = os.read(self.process.stdout.fileno(), 4096)
                if not chunk:
                    raise RuntimeError("the CLI zygote process died")
                self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        return json.loads(line)

    def run(self, module, args, timeout):
        with tempfile.TemporaryDirectory() as directory:
            stdout, stderr = (os.path.join(directory, name) for name in ("stdout", "stderr"))
            request = {"module": module, "args": list(args), "cwd": os.getcwd(),
                       "stdout": stdout, "stderr": stderr}
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            self.process.stdin.flush()
            pid = self._reply(time.monotonic() + 60)["pid"]
            ended = self._reply(time.monotonic() + timeout)
            if ended is None:
                os.kill(pid, signal.SIGKILL)
                self._reply(time.monotonic() + 60)
                raise subprocess.TimeoutExpired([module, *args], timeout)
            with open(stdout) as out, open(stderr) as err:
                return subprocess.CompletedProcess([sys.executable, "-m", module, *args],
                                                   ended["returncode"], out.read(), err.read())


_zygote = None


def run_module(module, *args, timeout=900):
    """`python -m module args` to its end: a CompletedProcess with text stdout and stderr."""
    global _zygote
    if _zygote is None or _zygote.process.poll() is not None:
        _zygote = _Zygote()
    return _zygote.run(module, args, timeout)


def start_module(module, *args):
    return subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=environment())
