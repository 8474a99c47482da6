"""Row filters applied between reading and writing: language id and pair de-duplication."""
