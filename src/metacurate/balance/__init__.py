"""Stage 3: per-entry balancing (SPEC section 1)."""
