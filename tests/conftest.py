import os

# Quiet TensorFlow's C++ start-up chatter in test logs; must be set before TF loads.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402  (after the log level above)

# Split the CPU into two logical devices before TensorFlow initialises, so that
# get_strategy("mirrored") runs every custom train_step over 2 replicas on machines without
# GPUs (STYLE.md). Fails with RuntimeError once TF is initialised; the split then stays as is.
try:
    _cpus = tf.config.list_physical_devices("CPU")
    if _cpus:
        tf.config.set_logical_device_configuration(
            _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
except RuntimeError:
    pass
