"""Lava processes of the loihi2 target (their own folder: Lava imports every module beside a ProcessModel)."""
