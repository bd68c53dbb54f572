"""The model: the activations, the MLP and its initial weights and checkpoint, the predictor a
logged model holds, and layer-output histograms."""
