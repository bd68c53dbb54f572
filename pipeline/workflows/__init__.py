"""The work several jobs share: a tracked training run, a sweep's life, a worker's loop."""
