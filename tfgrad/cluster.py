"""A training cluster on this machine:
`python -m tfgrad.cluster --workers=2 -- --flagfile=configs/cgir_synthetic.cfg [train flags]`.

Starts N real `python -m tfgrad.train … --strategy=multi_worker` processes, each with its own
TF_CONFIG (worker i of N, on 127.0.0.1 at ports found free; worker 0 is the chief, which
writes checkpoints, TensorBoard logs, metrics and the export), and streams their output line
by line, each line prefixed `[worker i]`. The batch sizes given are global: each step trains on
one batch of that size, split over the workers.

Exit code: the chief's. If a worker dies, the others are stopped (a worker would otherwise wait
forever in the next all-reduce) and the launcher fails naming it and its exit code; running the
same command again resumes from the chief's last checkpoint. At the end the fingerprints of the
workers' trainable weights must agree. On several machines, run `tfgrad.train
--strategy=multi_worker` on each with its own TF_CONFIG (README, "Training on several
workers").

This launcher never imports TensorFlow: the workers do.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Optional, Sequence, TextIO

from absl import flags

from tfgrad import cli

FLAGS = flags.FLAGS

# Seconds a worker is given to stop after SIGTERM before it is killed.
STOP_SECONDS = 10.0
FINGERPRINT = re.compile(r"^trained weights fingerprint (\w+)$")


def define_flags() -> None:
    flags.DEFINE_integer("workers", 2, "Worker processes to start on this machine (worker 0 is "
                         "the chief).", lower_bound=1)


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports free on 127.0.0.1 now (all held open until every one is
    found, so they differ). Another program could take one before its worker binds it; that
    worker then fails, and the launcher says which."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def tf_config(addresses: Sequence[str], index: int) -> str:
    """The TF_CONFIG of worker `index` in a cluster of `addresses` (host:port, one a worker)."""
    return json.dumps({"cluster": {"worker": list(addresses)},
                       "task": {"type": "worker", "index": index}})


def check_train_args(train_args: Sequence[str]) -> None:
    """Refuses an empty worker command line and a --strategy other than multi_worker."""
    if not train_args:
        raise ValueError("give tfgrad.train's flags after --, e.g. python -m tfgrad.cluster "
                         "--workers=2 -- --flagfile=configs/cgir_synthetic.cfg")
    for arg in train_args:
        match = re.fullmatch(r"--strategy=(.*)", arg)
        if match and match[1] != "multi_worker":
            raise ValueError(f"{arg}: a cluster trains with --strategy=multi_worker (the "
                             f"launcher sets it); leave --strategy out")


def exit_description(code: int) -> str:
    """"exit code 3", or for a signal "exit code -9 (killed by SIGKILL)"."""
    if code < 0:
        try:
            return f"exit code {code} (killed by {signal.Signals(-code).name})"
        except ValueError:
            pass
    return f"exit code {code}"


class Cluster:
    """N `tfgrad.train` worker processes on this machine, their output streamed with a
    prefix."""

    def __init__(self, train_args: Sequence[str], workers: int, output: TextIO = sys.stdout):
        self.train_args, self.output = list(train_args), output
        self.addresses = [f"127.0.0.1:{port}" for port in free_ports(workers)]
        self.processes: list[subprocess.Popen] = []
        self.fingerprints: dict[int, str] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def _print(self, line: str) -> None:
        with self._lock:
            print(line, file=self.output, flush=True)

    def start(self) -> None:
        command = [sys.executable, "-m", "tfgrad.train", *self.train_args,
                   "--strategy=multi_worker"]
        for index, address in enumerate(self.addresses):
            process = subprocess.Popen(
                command, env={**os.environ, "TF_CONFIG": tf_config(self.addresses, index)},
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
            self.processes.append(process)
            self._print(f"[cluster] worker {index}: pid {process.pid}, {address}"
                        + (" (chief)" if index == 0 else ""))
            thread = threading.Thread(target=self._stream, args=(index, process), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _stream(self, index: int, process: subprocess.Popen) -> None:
        for line in process.stdout:
            line = line.rstrip("\n")
            match = FINGERPRINT.match(line)
            if match:
                self.fingerprints[index] = match[1]
            self._print(f"[worker {index}] {line}")

    def wait(self, poll_seconds: float = 0.2) -> tuple[int, Optional[str]]:
        """Waits for every worker; returns (exit code, error message or None). A worker that
        fails stops the others at once."""
        while True:
            codes = [process.poll() for process in self.processes]
            failed = [index for index, code in enumerate(codes) if code not in (None, 0)]
            if failed:
                index = failed[0]
                running = [other for other, code in enumerate(codes) if code is None]
                self.stop()
                message = (f"worker {index} ({self.addresses[index]}) ended with "
                           f"{exit_description(codes[index])}")
                if running:
                    message += (f"; stopped worker{'s' if len(running) > 1 else ''} "
                                f"{', '.join(map(str, running))}")
                if codes[index] != cli.USAGE_ERROR:
                    message += ("; run the same command again to resume from the last "
                                "checkpoint")
                return (codes[index] if index == 0 and codes[index] > 0 else 1), message
            if all(code == 0 for code in codes):
                self._join_streams()
                if len(set(self.fingerprints.values())) > 1:
                    return 1, (f"the workers ended with different trainable weights: "
                               f"{self.fingerprints}")
                return 0, None
            time.sleep(poll_seconds)

    def stop(self) -> None:
        """Stops every worker still running (SIGTERM, then SIGKILL after STOP_SECONDS)."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + STOP_SECONDS
        for process in self.processes:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._join_streams()

    def _join_streams(self) -> None:
        for thread in self._threads:
            thread.join(timeout=STOP_SECONDS)


def main(argv: list[str]) -> None:
    train_args = argv[1:]
    try:
        check_train_args(train_args)
    except ValueError as error:
        cli.usage_error(str(error))
    cluster = Cluster(train_args, FLAGS.workers)
    try:
        cluster.start()
        code, message = cluster.wait()
    except KeyboardInterrupt:
        cluster.stop()
        print("interrupted; the cluster resumes from the last checkpoint when re-run",
              file=sys.stderr)
        sys.exit(130)
    if message:
        print(f"error: {message}", file=sys.stderr)
    elif len(cluster.fingerprints) > 1:
        fingerprint = next(iter(cluster.fingerprints.values()))
        print(f"[cluster] the {len(cluster.fingerprints)} workers ended with identical "
              f"trainable weights (fingerprint {fingerprint})", flush=True)
    sys.exit(code)


if __name__ == "__main__":
    define_flags()
    cli.run(main)
