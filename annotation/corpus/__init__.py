"""The corpus at rest: pretraining text in immutable Parquet files, one per ingest chunk (no Django)."""
