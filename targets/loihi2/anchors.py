"""What Loihi 2 silicon was measured to do: the anchors the timing and energy models are checked against.

Every figure carries its source (``shared/reference/netx-and-silicon.md``, ``loihi2-energy.md``).  Two anchors:

* **PilotNet LIF** (lava-dl ``tutorials/lava/lib/dl/netx/pilotnet_snn/benchmark.ipynb``, Oheo Gulch, one chip),
  measured by Intel: 74 neurocores, 16 steps per frame, 408.91 frames/s, 0.679 W total = 0.447 W dynamic + 0.232 W
  static, 1.094 mJ dynamic per frame.
* **Abreu et al. 2025** (arXiv 2503.18002, a 370M MatMul-free LLM; figures via a secondary summary, to be checked
  against the PDF before a paper cites them): generation on 24 chips of a 32-chip system, 41.5 tokens/s at 405 mJ
  per token; their one-chip estimate, 71.3 tokens/s at 59 mJ per token; prefill 6,632 tokens/s at 3.7 mJ per token.

Abreu et al. do not split their energy into static and dynamic parts.  Their two generation points do, if the
dynamic energy per token is the same on both and static power scales with the chips: ``E = E_dyn + n P / rate``
for each point gives two equations in ``E_dyn`` and ``P`` (``abreu_split``).  With 24 chips powered: 0.613 W per
chip and 50.4 mJ dynamic per token; with the whole 32-chip system powered: 0.457 W and 52.6 mJ.  That is 2-2.6x
PilotNet's 0.232 W per chip -- a multi-chip system's boards, links and host interface are in it -- so the static
power per chip is a range, not PilotNet's figure alone.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PilotNet:
    cores: int = 74
    steps_per_frame: int = 16
    frames_per_s: float = 408.91
    total_w: float = 0.679234
    dynamic_w: float = 0.447156
    static_w: float = 0.232078
    dynamic_j_per_frame: float = 1.094e-3
    # Intel's compiler's cores per layer (notebook output, input first): input, 5 conv, 4 dense
    cores_per_layer: tuple[int, ...] = (13, 25, 13, 3, 3, 2, 12, 1, 1, 1)
    source: str = ("lava-dl tutorials/lava/lib/dl/netx/pilotnet_snn/benchmark.ipynb (Intel, Oheo Gulch, one Loihi 2 "
                   "chip): measured")

    @property
    def step_seconds(self) -> float:
        return 1 / (self.frames_per_s * self.steps_per_frame)


@dataclass(frozen=True)
class Abreu:
    generate_tokens_per_s: float = 41.5
    generate_mj_per_token: float = 405.0
    chips: int = 24
    system_chips: int = 32
    one_chip_tokens_per_s: float = 71.3
    one_chip_mj_per_token: float = 59.0
    prefill_tokens_per_s: float = 6632.0
    prefill_mj_per_token: float = 3.7
    source: str = ("Abreu, Shrestha, Zhu, Eshraghian 2025, arXiv 2503.18002 (secondary summary, "
                   "shared/reference/loihi2-energy.md; check the PDF before citing)")


PILOTNET, ABREU = PilotNet(), Abreu()


def abreu_split(chips_powered: int, a: Abreu = ABREU) -> tuple[float, float]:
    """(static W per chip, dynamic mJ per generated token) solved from Abreu et al.'s two generation points, with
    `chips_powered` chips powered on the multi-chip system and one on their one-chip estimate."""
    # E = E_dyn + n P / rate (mJ = W / (tokens/s) * 1e3): two points, two unknowns
    k_system = chips_powered / a.generate_tokens_per_s * 1e3
    k_one = 1 / a.one_chip_tokens_per_s * 1e3
    watts = (a.generate_mj_per_token - a.one_chip_mj_per_token) / (k_system - k_one)
    return watts, a.one_chip_mj_per_token - watts * k_one
