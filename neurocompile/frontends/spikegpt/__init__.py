"""SpikeGPT (spiking RWKV): upstream checkpoints as they are -> the PyTorch model -> its Graph."""
from __future__ import annotations

import torch

from ...checkpoint import Checkpoint, listing
from ...errors import UserError
from ...models.spikegpt import SpikeGPT, SpikeGPTConfig
from ..family import Family, LoadOptions
from .trace import trace_spikegpt


def recognises(keys: set[str]) -> bool:
    return "emb.weight" in keys or any(".att.time_decay" in k for k in keys)


def build(ckpt: Checkpoint, options: LoadOptions) -> SpikeGPT:
    """Check every key, shape and value against SpikeGPT's definition, then build the model (float32).

    ``options.v_threshold`` is the LIF threshold the model was trained with (not stored in upstream checkpoints)."""
    if options.config is not None:
        raise UserError(f"{ckpt.path}: --config is for SpikeDecoder checkpoints; a SpikeGPT's hyper-parameters follow "
                        f"from its tensors")
    v_threshold = 1.0 if options.v_threshold is None else options.v_threshold
    cfg = SpikeGPTConfig.from_state_dict(ckpt.state, ckpt.path, v_threshold)
    with torch.device("meta"):
        skeleton = SpikeGPT(cfg)
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    got = ckpt.state
    guess = f"(family guessed: SpikeGPT, L={cfg.n_layer} C={cfg.n_embd} V={cfg.vocab_size} from the tensors)"
    missing = sorted(expected.keys() - got.keys())
    unexpected = sorted(got.keys() - expected.keys())
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys: {listing(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {listing(unexpected)}")
        raise UserError(f"{ckpt.path}: {'; '.join(parts)} {guess}")
    wrong = [f"{k} is {tuple(got[k].shape)}, expected {shape}" for k, shape in sorted(expected.items())
             if tuple(got[k].shape) != shape]
    if wrong:
        raise UserError(f"{ckpt.path}: shape mismatch: {listing(wrong)} {guess}")
    not_float = sorted(k for k, t in got.items() if not t.is_floating_point())
    if not_float:
        raise UserError(f"{ckpt.path}: parameters that are not floating point: {listing(not_float)}")
    bad = ckpt.non_finite()
    if bad:
        raise UserError(f"{ckpt.path}: NaN or Inf values in: {listing(bad)}. The checkpoint is damaged or diverged.")
    state = {k: t.to(torch.float32) for k, t in got.items()}
    skeleton.load_state_dict(state, assign=True)
    return skeleton.eval()


FAMILY = Family(name="spikegpt", title="SpikeGPT", keys="'emb.weight' or 'blocks.N.att.*'", recognises=recognises,
                build=build, trace=trace_spikegpt)
