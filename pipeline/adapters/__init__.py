"""Layer 4, the adapters: the only code that talks to the outside systems. `tracking/` is the
only package that imports mlflow, `studies/` the only one that imports optuna, `servers.py`
handles the ports and processes of the local servers."""
