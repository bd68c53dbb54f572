"""The process: its environment and device, Ctrl-C and SIGTERM, atomic file writes, database
URLs, and the two kinds of error a user can act on."""
