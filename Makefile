# neurocompile — `make demo` runs the pipeline on the zoo model, `make test` runs the test suite.
# Both build .venv first (idempotent): torch pinned to the 2.13.0 CPU wheel, Lava installed and patched.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TORCH  := torch==2.13.0
LAVA   := lava-nc==0.10.0 lava-dl==0.6.0
ZOO    := models/zoo/spikegpt-pydoc.pt

BUILD  := build/zoo-loihi2
NIR    := models/zoo/rleaky-patterns
NBUILD := build/rleaky-loihi2
SD     := models/zoo/spikedecoder-pydoc.pt
SBUILD := build/spikedecoder-loihi2
XBUILD := build/rleaky-xylo

.PHONY: install demo test bench wheel-check clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.py Makefile tools/fix_lava.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch pinned in the same command as everything that depends on it, so pip never picks a CUDA build
	$(BIN)/python -m pip install --quiet "$(TORCH)" -e ".[lava,test]"
	# lava declares Python <3.11 and pins old torch/pytest: install without its metadata, then patch
	$(BIN)/python -m pip install --quiet --no-deps --ignore-requires-python $(LAVA)
	$(BIN)/python tools/fix_lava.py
	# the cpu engine's native dot products (targets/cpu/native.c, built with cc; portable numba if that fails)
	$(BIN)/python -c "from neurocompile.targets.cpu import native; print('cpu engine dot products:', native.ENGINE)"
	# Norse (a test golden for NIR import) declares torchvision, which it needs only for data sets we never import
	$(BIN)/python -m pip install --quiet --no-deps "norse==1.1.0"
	# Sinabs (exports the spiking CNN the NIR tests deploy) declares samna, a hardware SDK its NIR path never imports
	$(BIN)/python -m pip install --quiet --no-deps "sinabs==2.0.3" "pbr==7.1.3"
	# Rockpool (exports the CubaLIF network the NIR tests read back) needs nothing beyond torch, numpy and nirtorch
	$(BIN)/python -m pip install --quiet --no-deps "rockpool==3.1.0"
	# NeuroBench (the report's NeuroBench metrics are checked against it) declares numba, tonic and torchaudio for
	# data sets and processors; its metrics and snnTorch wrapper import none of them
	$(BIN)/python -m pip install --quiet --no-deps "neurobench==2.3.0"
	# SynSense's Xylo simulator (simulate --engine xylosim; the xylo target's golden): an sdist of C++ built with
	# pybind11 (about 30 s); never install samna from the registry (a stub that pip-installs from another index)
	$(BIN)/python -m pip install --quiet "pybind11>=2.10" "wheel"
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation "xylosim==0.1.3"
	# Ray (sweep --ray runs its points on a Ray cluster; a test starts a local one); torch pinned beside it
	$(BIN)/python -m pip install --quiet "ray==2.60.0" "$(TORCH)"
	touch $(STAMP)

# The fullest path that exists: inspect, export for loihi2 (trace, quantize, partition), simulate on our engine
# and on Lava (checked identical), evaluate fidelity, report energy -- for the zoo SpikeGPT, the zoo SpikeDecoder
# (its config beside it), and the zoo's NIR graph.
demo: install
	$(BIN)/neurocompile inspect $(ZOO)
	$(BIN)/neurocompile export $(ZOO) --target loihi2 -o $(BUILD)
	$(BIN)/neurocompile simulate $(BUILD) --prompt "The " --tokens 28 --engine lava
	$(BIN)/neurocompile simulate $(BUILD) --prompt "The " --tokens 200
	$(BIN)/neurocompile evaluate $(BUILD) --max-tokens 4000
	$(BIN)/neurocompile report $(BUILD) --format md -o $(BUILD)/report.md --plots $(BUILD)/plots
	@sed -n '/^## Per token/,/^## Energy by layer/p;/^## Conventions compared/,$$p' $(BUILD)/report.md
	# what each layer's bits are worth; a small design-space sweep (energy per token against bits per token)
	$(BIN)/neurocompile sensitivity $(BUILD) --max-tokens 1000 --plots $(BUILD)/plots > $(BUILD)/sensitivity.md
	@sed -n 1,14p $(BUILD)/sensitivity.md
	$(BIN)/neurocompile sweep $(ZOO) --grid models/zoo/sweep.toml -o build/zoo-sweep --max-tokens 1000
	# a spiking transformer decoder (upstream SpikeDecoder format): T synthetic steps per token, attention as state
	$(BIN)/neurocompile inspect $(SD)
	$(BIN)/neurocompile export $(SD) --target loihi2 -o $(SBUILD)
	$(BIN)/neurocompile simulate $(SBUILD) --prompt "the " --tokens 12 --engine lava
	$(BIN)/neurocompile simulate $(SBUILD) --prompt "the " --tokens 60
	$(BIN)/neurocompile evaluate $(SBUILD) --max-tokens 4000
	$(BIN)/neurocompile report $(SBUILD) --format md -o $(SBUILD)/report.md
	@sed -n '/^## Per token/,/^## Energy by layer/p;/^## Conventions compared/,$$p' $(SBUILD)/report.md
	# a recurrent spiking classifier trained in snnTorch and exported by snnTorch to NIR: the same path, rasters in
	$(BIN)/neurocompile inspect $(NIR).nir
	$(BIN)/neurocompile export $(NIR).nir --target loihi2 -o $(NBUILD)
	$(BIN)/neurocompile simulate $(NBUILD) --input-spikes $(NIR).sample.npz --engine lava --output-spikes build/rleaky-out.npz
	$(BIN)/neurocompile evaluate $(NBUILD) --input-spikes $(NIR).test.npz
	$(BIN)/neurocompile simulate $(NBUILD) --input-spikes $(NIR).test.npz
	$(BIN)/neurocompile report $(NBUILD) --format md -o $(NBUILD)/report.md
	@sed -n '/^## Per time step/,/^## Energy by layer/p' $(NBUILD)/report.md
	# the same NIR graph on a second chip, SynSense Xylo Audio 2: design rules, SynSense's own simulator as the check
	$(BIN)/neurocompile export $(NIR).nir --target xylo -o $(XBUILD)
	$(BIN)/neurocompile simulate $(XBUILD) --input-spikes $(NIR).test.npz --engine xylosim
	$(BIN)/neurocompile evaluate $(XBUILD) --input-spikes $(NIR).test.npz
	$(BIN)/neurocompile report $(XBUILD) --format md -o $(XBUILD)/report.md
	@sed -n '/^## Per time step/,/^## Energy and time/p' $(XBUILD)/report.md

bench: install
	$(BIN)/python tools/benchmark.py

# one pytest process per core (pytest-xdist, at most 4: each holds a few GB), a test file's tests in one process so
# that its module-wide builds are made once; `pytest tests/test_x.py` alone runs in one process as usual
test: install
	$(BIN)/python -m pytest -n auto --maxprocesses 4 --dist loadfile

# the wheel, installed into a fresh venv, runs the front door (CI runs this after the tests)
wheel-check: install
	bash tools/wheel_check.sh

clean:
	rm -rf $(VENV) build *.egg-info
