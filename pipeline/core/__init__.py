"""Layer 1, the core, cut by concern: `schema` (typed configs), `dataset`, `network` (the model
and activations) and `process` (environment, device, interrupts, files, URLs, errors). It
imports no other layer, and nothing here knows MLflow or Optuna or reaches the network."""
