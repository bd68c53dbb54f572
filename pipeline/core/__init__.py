"""Layer 1, the core: typed configs, the dataset, the model, the activations, the predictor a
logged model holds, the process environment, and small file and URL helpers. It imports no
other layer, and nothing here knows MLflow or Optuna."""
