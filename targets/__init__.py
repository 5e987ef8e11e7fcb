"""Hardware targets, one folder each: ``loihi2`` (Lava), ``cpu`` (our bit-accurate simulator)."""
