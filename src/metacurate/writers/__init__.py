"""Writers: every output file appears under its final name only once it is complete."""
