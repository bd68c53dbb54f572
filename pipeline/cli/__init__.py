"""Layer 7, the command line, the edge: flags and the environment become a typed config, which
is passed to the command's job. Configuration enters the program here and nowhere else."""
