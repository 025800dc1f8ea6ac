"""Per-record ingest steps: pure functions with no Django, called by the ingest pipeline."""
