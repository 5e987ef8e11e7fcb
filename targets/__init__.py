"""Hardware targets, one folder each."""
