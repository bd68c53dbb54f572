"""The dataset: which one a config names, its IDX files found on disk and verified, and its
tensor-resident splits. Nothing here reaches the network: a download is the caller's, passed
in (adapters/downloads.py)."""
