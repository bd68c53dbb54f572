"""Layer 3, the stages: the study's computations (training, the gradient probe, the layer
analysis, curves, statistics, the results table, timings). Plain values in, plain results out;
no MLflow, no Optuna, so every stage is testable without a store."""
