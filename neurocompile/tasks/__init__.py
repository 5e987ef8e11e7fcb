"""Tasks: what a run means (its inputs, outputs, metrics and units).  One folder per task."""
