"""A process that has imported TensorFlow and forks, per request, a child that runs one entry
point as `python -m MODULE ARGS…` would (`runpy.run_module(…, run_name="__main__")`).

Importing TensorFlow takes ≈ 5 s of every `python -m tfgrad.X` the tests start, which was a
third of the suite; a forked child starts with it imported. Nothing in this process builds a
TensorFlow op or context before it forks (that is what would make fork unsafe), so each child
initialises TensorFlow's runtime for itself, as a fresh interpreter does.

Protocol, one JSON object per line: in on stdin {"module", "args", "cwd", "stdout", "stderr"}
(the last two: files the child writes), out on stdout {"pid"} when the child has started, then
{"returncode"} when it has ended (a negative signal number, as `subprocess` reports one).
"""

import json
import os
import runpy
import sys
import traceback

import keras  # noqa: F401  (imported once here, so that children start with it)
import numpy  # noqa: F401
import tensorflow  # noqa: F401


def _exit_code(exit_value) -> int:
    """What the interpreter would exit with for `SystemExit(exit_value)`."""
    if exit_value is None:
        return 0
    if isinstance(exit_value, int):
        return exit_value
    print(exit_value, file=sys.stderr)
    return 1


def _run_child(request) -> None:
    """In the forked child: become `python -m module args` and never return."""
    os.chdir(request["cwd"])
    stdin = os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
    sys.argv = [request["module"], *request["args"]]
    sys.path[0] = request["cwd"]  # what `python -m` puts first
    code = 0
    try:
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        code = _exit_code(stop.code)
    except BaseException:  # noqa: BLE001  (the interpreter's own last resort, as `python -m`)
        traceback.print_exc()
        code = 1
    try:
        import atexit
        atexit._run_exitfuncs()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main() -> None:
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _run_child(request)
        replies.write(json.dumps({"pid": pid}) + "\n")
        _, status = os.waitpid(pid, 0)
        replies.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")


if __name__ == "__main__":
    main()
