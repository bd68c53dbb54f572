"""Layer 6, jobs: one module per command (`python -m pipeline STAGE`): it takes its typed
config, does the work through workflows, stages and adapters, and prints what a person needs."""
