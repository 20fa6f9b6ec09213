"""The boundary of every entry point: bad input becomes one line naming it and exit code 2."""

from __future__ import annotations

import os
import re
import sys
from typing import Callable

# Before TensorFlow loads: keep its C++ start-up chatter (e.g. "failed call to cuInit" on
# machines without a GPU) out of users' terminals. TF_CPP_MIN_LOG_LEVEL=0 shows it again;
# errors that matter still surface as Python exceptions.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

USAGE_ERROR = 2


def first_line_of_op_error(message: str) -> str:
    """TF op errors start with '{{function_node ...}}' and carry a graph trace; keep the news.

    A failed tf.debugging.Assert reads "assertion failed: [message] [values]"; it becomes
    "message values".
    """
    line = message.strip().splitlines()[0] if message.strip() else message
    if line.startswith("{{function_node"):
        line = line.split("}}", 1)[-1].strip()
    line = line.replace("assertion failed: ", "")
    assertion = re.fullmatch(r"\[(.*?)\] \[(.*)\]", line)
    return f"{assertion[1]} {assertion[2]}" if assertion else line


def guarded(main: Callable[[list[str]], None]) -> Callable[[list[str]], None]:
    """Wraps an absl main: expected errors print `error: …` and exit 2, never a traceback."""

    def wrapped(argv: list[str]) -> None:
        import tensorflow as tf
        from absl import logging

        # SavedModel writing logs every step at INFO; users want results and warnings.
        logging.set_verbosity(logging.WARNING)
        tf.get_logger().setLevel("WARNING")

        try:
            main(argv)
        except (ValueError, KeyError, FileNotFoundError, NotADirectoryError) as error:
            message = str(error.args[0]) if isinstance(error, KeyError) else str(error)
            print(f"error: {message}", file=sys.stderr)
            sys.exit(USAGE_ERROR)
        except tf.errors.InvalidArgumentError as error:
            print(f"error: {first_line_of_op_error(error.message)}", file=sys.stderr)
            sys.exit(USAGE_ERROR)
        except KeyboardInterrupt:
            print("interrupted; training resumes from the last checkpoint when re-run",
                  file=sys.stderr)
            sys.exit(130)

    return wrapped
