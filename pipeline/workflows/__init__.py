"""Layer 5, workflows: the work several jobs share, stages recorded through the adapters: a
tracked training run, a sweep's life in both stores, a worker's loop, the worker processes."""
