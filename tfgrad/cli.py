"""The boundary of every entry point: a quiet start, and bad input (flags included) becomes one
line `error: …` naming it and exit code 2.

Every entry point imports this module first, so the log level below is set before TensorFlow
loads.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Callable, Optional, Sequence

USAGE_ERROR = 2

# --verbosity (absl's flag, also -v) at which TensorFlow's own C++ logs show.
TF_LOGS_VERBOSITY = 1
_VERBOSITY_HELP = (f" tfgrad: without it, TensorFlow's C++ logs are off and Python logs show "
                   f"warnings and errors only; {TF_LOGS_VERBOSITY} or more also shows "
                   f"TensorFlow's C++ logs (start-up lines such as cuInit and oneDNN notices). "
                   f"Give it on the command line, not in a flagfile: TensorFlow reads its log "
                   f"level when it loads.")


def verbosity_in_argv(argv: Sequence[str]) -> Optional[int]:
    """The --verbosity/-v given on the command line (the last one wins), or None.

    Read before absl parses the flags, because TensorFlow must see its log level before it
    loads; a value absl cannot parse is left for absl to report.
    """
    value = None
    for position, arg in enumerate(argv[1:], start=1):
        if arg == "--":
            break
        match = re.fullmatch(r"--?(?:verbosity|v)(?:=(.*))?", arg)
        if match is None:
            continue
        text = match[1] if match[1] is not None else (
            argv[position + 1] if position + 1 < len(argv) else "")
        try:
            value = int(text)
        except ValueError:
            pass
    return value


def _quiet_tensorflow(argv: Sequence[str]) -> None:
    """TensorFlow's C++ start-up chatter ("failed call to cuInit", "oneDNN custom operations
    are on", ...) stays out of users' terminals unless --verbosity asks for it. Only the log
    level changes: oneDNN stays on (TF_ENABLE_ONEDNN_OPTS=0 would change numerics). Without
    --verbosity an explicit TF_CPP_MIN_LOG_LEVEL in the environment is respected."""
    verbosity = verbosity_in_argv(argv)
    if verbosity is None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    else:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0" if verbosity >= TF_LOGS_VERBOSITY else "3"


_quiet_tensorflow(sys.argv)


def error_line(message: str) -> str:
    """A message as one line (absl and TF messages may span several)."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    return "; ".join([re.sub(r"[.;]$", "", line) for line in lines[:-1]] + lines[-1:])


def usage_error(message: str) -> None:
    """Prints `error: <message>` (one line) and exits with code 2."""
    print(f"error: {error_line(message)}", file=sys.stderr)
    sys.exit(USAGE_ERROR)


_NOISE = re.compile(r"Graph execution error:|\d+ root error\(s\) found\.|"
                    r"\d+ successful operations?\.|\d+ derived errors? ignored\..*|"
                    r"\[\[.*\]\].*")


def op_error_message(message: str) -> str:
    """The news in a TensorFlow op error's message, as one line.

    Op errors come as "{{function_node …}} <news> [[…]] [Op:…]" (a signature failing in its
    own function) or, when an eager call runs a tf.function or signature, as "Graph execution
    error:" followed by "Detected at node … (most recent call last):", a stack trace and then
    the news, possibly as "N root error(s) found. (0) INVALID_ARGUMENT: <news>". A failed
    tf.debugging.Assert's news reads "assertion failed: [message] [values]"; it becomes
    "message values".
    """
    news = None
    in_trace = False
    for line in message.splitlines():
        stripped = line.strip()
        if stripped.startswith("Detected at node"):
            in_trace = True
            continue
        if in_trace:
            # The trace: indented "File …" and code lines, blanks, placeholders, "Node: '…'".
            if (not stripped or line[:1].isspace() or stripped == "<stack traces unavailable>"
                    or stripped.startswith("Node:")):
                continue
            in_trace = False
        stripped = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", stripped)
        stripped = re.sub(r"^\(\d+\) [A-Z_]+:\s*", "", stripped)
        if stripped and not _NOISE.fullmatch(stripped):
            news = stripped
            break
    if news is None:
        news = message.strip().splitlines()[0] if message.strip() else message
    news = re.sub(r"\s*\[\[\{\{.*$", "", news)
    news = re.sub(r"\s*\[Op:[^\]]*\](?: name:.*)?$", "", news).strip()
    assertion = re.fullmatch(r"assertion failed: \[(.*)\]", news)
    if assertion:
        return " ".join(part.strip() for part in assertion[1].split("] ["))
    return news.replace("assertion failed: ", "")


def parse_flags(argv: list[str]) -> list[str]:
    """absl.app.run's flags_parser: a bad flag value, an unknown flag, a missing required flag
    or flagfile become `error: <absl's message>` (which names the flag, and for an enum the
    known values) and exit code 2, instead of absl's "FATAL Flags parsing error" and 1."""
    from absl import flags

    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        message = re.sub(r"^ERROR::\s*", "", str(error))
        if isinstance(error, flags.CantOpenFlagFileError):
            message = f"--flagfile: {message}"
        usage_error(message)


def run(main: Callable[[list[str]], None], argv: Optional[list[str]] = None) -> None:
    """absl.app.run(main) with parse_flags: every entry point's `__main__` calls this."""
    from absl import app, flags, logging  # noqa: F401 - logging defines --verbosity

    verbosity = flags.FLAGS["verbosity"]
    if _VERBOSITY_HELP not in verbosity.help:
        verbosity.help += _VERBOSITY_HELP
    app.run(main, argv=argv, flags_parser=parse_flags)


def guarded(main: Callable[[list[str]], None]) -> Callable[[list[str]], None]:
    """Wraps an absl main: expected errors print `error: …` and exit 2, never a traceback."""

    def wrapped(argv: list[str]) -> None:
        import tensorflow as tf
        from absl import flags, logging

        if flags.FLAGS["verbosity"].present:
            tf.get_logger().setLevel(logging.converter.absl_to_standard(
                logging.get_verbosity()))
        else:
            # SavedModel writing logs every step at INFO; users want results and warnings.
            logging.set_verbosity(logging.WARNING)
            tf.get_logger().setLevel("WARNING")

        try:
            main(argv)
        except (ValueError, KeyError, FileNotFoundError, NotADirectoryError) as error:
            usage_error(str(error.args[0]) if isinstance(error, KeyError) else str(error))
        except tf.errors.InvalidArgumentError as error:
            usage_error(op_error_message(error.message))
        except KeyboardInterrupt:
            print("interrupted; training resumes from the last checkpoint when re-run",
                  file=sys.stderr)
            sys.exit(130)

    return wrapped


def ask_server(server: str, model_name: Optional[str], signature: str, inputs: dict,
               timeout: float = 600) -> dict:
    """One Predict call of `signature` on a gRPC server: inputs {alias: (value, tf dtype)} ->
    {alias: np.ndarray} (strings as bytes). A failed call prints `error: CODE: details` and
    exits 2."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    from tfgrad.serving.client import predict_request, response_arrays

    if not model_name:
        raise ValueError("--server needs --model_name")
    with grpc.insecure_channel(server) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            response = stub.Predict(predict_request(model_name, signature, inputs),
                                    timeout=timeout)
        except grpc.RpcError as error:
            print(f"error: {error.code().name}: {error.details()}", file=sys.stderr)
            sys.exit(USAGE_ERROR)
    return response_arrays(response)


def ask_export(export_dir: str, signature: str, inputs: dict, missing_hint: str) -> dict:
    """`signature` of the newest export under `export_dir`, called in process: the same
    inputs and outputs as `ask_server`; `missing_hint` says how to get an export that has the
    signature."""
    import tensorflow as tf

    from tfgrad.export.versioned import load_export

    export = load_export(export_dir)
    signatures = export.saved_model.signatures
    if signature not in signatures:
        raise ValueError(f"{export.path!r} has no {signature} signature (its signatures: "
                         f"{', '.join(sorted(signatures))}); {missing_hint}")
    result = signatures[signature](**{alias: tf.constant(value, dtype)
                                      for alias, (value, dtype) in inputs.items()})
    return {alias: value.numpy() for alias, value in result.items()}
