"""Our bit-accurate CPU simulator of the Loihi 2 integer program: compiled numba kernels (``kernels``), with each op's
numpy integer step as the reference (``simulator.ReferenceSimulator``)."""
from neurocompile.target import Target
from neurocompile.targets import loihi2
from neurocompile.targets.loihi2 import NUMERIC, rules

TARGET = Target(
    name="cpu",
    description="bit-accurate CPU simulation of the Loihi 2 integer program (same numerics as loihi2)",
    numeric=NUMERIC,
    placement=rules.placement,  # the program it simulates is Loihi 2's: each op where Loihi 2 would run it
    token_shift="delay",  # the same program as loihi2's
    choose_extension=loihi2.TARGET.choose_extension,
    extension_ops=loihi2.TARGET.extension_ops,
)
