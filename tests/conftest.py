from __future__ import annotations

import os

import pytest
import torch

# pytest-xdist runs the suite in one process per core (``make test``): each keeps to one torch thread there, so two
# processes never ask two cores for four threads
THREADS = 1 if os.environ.get("PYTEST_XDIST_WORKER") else 2


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    torch.set_num_threads(THREADS)


@pytest.fixture()
def ray_cluster():
    """A local Ray head started the way a user starts one (``ray start --head``), stopped afterwards.  ``ray stop``
    stops every Ray process of the machine, so tests in other processes (pytest-xdist) take turns through a lock."""
    import fcntl
    import shutil
    import tempfile
    import socket
    import subprocess
    import sys
    from pathlib import Path

    ray = shutil.which("ray") or str(Path(sys.executable).parent / "ray")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with open(Path(tempfile.gettempdir()) / "neurocompile-tests-ray.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run([ray, "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
                        "--disable-usage-stats"], check=True, capture_output=True, timeout=120)
        try:
            yield f"127.0.0.1:{port}"
        finally:
            subprocess.run([ray, "stop", "--force"], capture_output=True, timeout=120)
