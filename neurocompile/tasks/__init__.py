"""Tasks: what a run means (its inputs, outputs, metrics and units).  One folder per task, each defining ``TASK``
(``neurocompile.task.Task``), found by ``neurocompile.task.tasks()``."""
