"""Peer libraries run beside tfgrad, each in a process of its own (`process.py` starts them)."""
