"""Model families neurocompile understands, in PyTorch, equal to their upstream definitions."""
