"""Activation-function study: stage functions for data, probe, training and analysis."""
