"""Work spread over local worker processes or the tasks of an existing Ray cluster: what a sweep and a scaled-out
evaluation share.  Each task is a top-level function and its arguments (picklable); results come back in order."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from ...errors import UserError


def map_tasks(fn: Callable[..., Any], args: Sequence[tuple], workers: int, ray_address: str | None = None) -> list:
    """``[fn(*a) for a in args]``, computed in `workers` local processes (spawned), or as Ray tasks on the cluster at
    `ray_address`; in order.  The process's multiprocessing start method is left as it was found: a process pool fixes
    the default one, and Lava, imported later in the same process, then cannot set the 'fork' it needs."""
    import multiprocessing

    free = multiprocessing.get_start_method(allow_none=True) is None
    try:
        return _map(fn, args, workers, ray_address)
    finally:
        if free:
            multiprocessing.set_start_method(None, force=True)


def _map(fn: Callable[..., Any], args: Sequence[tuple], workers: int, ray_address: str | None) -> list:
    if not args:
        return []
    if ray_address is not None:
        try:
            import ray
        except ImportError:
            raise UserError("--ray needs Ray: pip install ray (and the same neurocompile on every node)") from None
        check_reachable(ray_address)
        ours = not ray.is_initialized()
        try:
            ray.init(address=ray_address, ignore_reinit_error=True, log_to_driver=False)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise UserError(f"--ray {ray_address}: no Ray cluster there ({str(exc).splitlines()[0]}); start one with "
                            f"`ray start --head` or give its address") from None
        try:
            task = ray.remote(fn)
            return ray.get([task.remote(*a) for a in args])
        finally:
            if ours:
                ray.shutdown()
    if workers <= 1 or len(args) == 1:
        return [fn(*a) for a in args]
    import multiprocessing

    # spawned, not forked: a fork of a process whose torch or numba threads have started can hang
    with ProcessPoolExecutor(min(workers, len(args)), mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(fn, *zip(*args)))


def check_reachable(address: str) -> None:
    """A HOST:PORT (or ray://HOST:PORT) address that refuses connections is refused at once: Ray itself retries for
    minutes before it gives up."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto" and other forms: Ray resolves them
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise UserError(f"--ray {address}: no Ray cluster there ({exc.strerror or exc}); start one with "
                        f"`ray start --head` or give its address") from None
