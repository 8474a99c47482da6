"""Engines decide where shards run; the per-shard work itself is engine-free."""
