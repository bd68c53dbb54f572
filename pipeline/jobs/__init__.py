"""Jobs: one per stage, each owning its config, data, tracking run and lifecycle."""
