"""Layer 2, figures: plain values in, a figure out; matplotlib (static.py) or a self-contained
plotly page (interactive.py). Nothing here reads files or knows about MLflow."""
