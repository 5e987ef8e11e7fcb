#!/usr/bin/env bash
# The package as a user installs it: build the wheel, install it into a fresh virtual environment, and run the
# front door from a folder outside the repository (only the installed package can be imported) -- export and
# simulate the zoo SpikeGPT (the embedded default) and the zoo's NIR graph, then report both.  Called by .ci/run;
# a module or data file missing from the wheel fails here, not on a user's machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$PWD/.venv/bin/python}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# built from the committed tree (what a release ships), in a folder of its own: setuptools' build/ never reaches a
# checkout, and a module deleted since the last build cannot ship from a stale copy
mkdir "$WORK/src"
git archive --format=tar HEAD | tar -x -C "$WORK/src"
"$PYTHON" -m pip wheel --quiet --no-deps --no-build-isolation -w "$WORK/dist" "$WORK/src"
python3 -m venv "$WORK/venv"
# torch pinned in the same command, so that pip never picks a CUDA build
"$WORK/venv/bin/python" -m pip install --quiet "torch==2.13.0" "$WORK"/dist/neurocompile-*.whl
cd "$WORK"
nc=venv/bin/neurocompile
$nc --version
# the engine's native dot products: compiled from the wheel's native.c on first use (portable numba without a compiler)
venv/bin/python -c "from neurocompile.targets.cpu import native; print('cpu engine dot products:', native.ENGINE)"
$nc export --target loihi2 -o zoo
$nc simulate zoo --prompt "The " --tokens 20 --temperature 0
$nc report zoo --format md -o zoo/report.md
zoo_dir=$(venv/bin/python -c "import pathlib, neurocompile.models.zoo as z; print(pathlib.Path(z.__file__).parent)")
# the NIR graph for every target the installed package finds (a target missing from the wheel fails here)
for target in $(venv/bin/python -c "from neurocompile.target import targets; print(' '.join(targets()))"); do
    $nc export "$zoo_dir/rleaky-patterns.nir" --target "$target" -o "rleaky-$target"
    $nc simulate "rleaky-$target" --input-spikes "$zoo_dir/rleaky-patterns.sample.npz"
    $nc report "rleaky-$target" --format md -o "rleaky-$target/report.md"
    grep -q "Per time step" "rleaky-$target/report.md"
done
grep -q "Per token" zoo/report.md && test -f rleaky-xylo/report.md
echo "wheel check: $(ls dist) installs and runs export, simulate and report of the zoo model and of a NIR graph for" \
     "each target ($(ls -d rleaky-* | sed 's/rleaky-//' | tr '\n' ' '))"
