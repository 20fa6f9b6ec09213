"""What every system shares: the `System` seam, the registry of systems and models, the one run
loop (train → select → evaluate → export) and the one comparison loop (models × seeds)."""
