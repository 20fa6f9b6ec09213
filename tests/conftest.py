import os

# Quiet TensorFlow's C++ start-up chatter in test logs; must be set before TF loads.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
