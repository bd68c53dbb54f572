"""The configs' schema: every job's typed, validated settings (training, sweep, job), the kinds
of value they hold and their bounds, the search space and objectives a sweep file names, and
the vocabulary the pipeline records."""
