"""Snapshot building blocks, each small and free of Django where it can be.

params (what a snapshot asks for) → select (which records) → split and
mixture (where each goes, how often) → writer (Parquet shards) → card and
manifest (what was made).
"""
