"""Where a stress run's chunks are computed: this machine (one process or a pool of worker
processes, :func:`risk.engine.simulate`'s own) or a Dask cluster (``dask://HOST:PORT``).

Chunk ``j`` always draws from the ``j``-th child of ``SeedSequence(seed)`` and the chunks are joined
in chunk order, so the figures are the same wherever the chunks run (docs/rules.md M6).

>>> executor_for(None) is None, executor_for("local") is None
(True, True)
>>> executor_for("dask://scheduler.example:8786").address
'tcp://scheduler.example:8786'
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DaskExecutor:
    """Chunks sent to the Dask scheduler at ``address`` (``tcp://HOST:PORT``); the prepared inputs
    are scattered to every worker once. Workers need ipfund installed (``pip install ipfund[dask]``)."""

    address: str

    def run_chunks(self, prep, seeds: list[np.random.SeedSequence], sizes: list[int]) -> Iterator[tuple[int, object, float, float]]:
        """Yield ``(index, ChunkResult, peak RSS MB of its worker, CPU seconds)`` as chunks finish."""
        from distributed import as_completed

        from risk.engine import _worker_chunk_with

        with _client(self.address) as client:
            shared = client.scatter(prep, broadcast=True, hash=False)
            futures = [client.submit(_worker_chunk_with, shared, j, seed, size, pure=False)
                       for j, (seed, size) in enumerate(zip(seeds, sizes))]
            try:
                for future in as_completed(futures, loop=client.loop):
                    yield future.result()
            finally:
                client.cancel(futures)


def _client(address: str):
    """A client of the scheduler for one run (closed with it)."""
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("the dask executor needs dask[distributed]: pip install 'ipfund[dask]'") from None
    return Client(address, set_as_default=False, timeout=30)


def executor_for(spec: str | None) -> DaskExecutor | None:
    """``None`` or ``"local"``: this machine; ``"dask://HOST:PORT"``: a Dask scheduler (also
    ``dask://tcp://...``, ``dask://inproc://...`` as Dask spells them)."""
    if spec is None or spec == "local":
        return None
    if not isinstance(spec, str) or not spec.startswith("dask://") or len(spec) <= len("dask://"):
        raise ValueError(f"executor must be 'local' or 'dask://HOST:PORT', got {spec!r}")
    rest = spec[len("dask://"):]
    return DaskExecutor(rest if "://" in rest else f"tcp://{rest}")


ProgressCallback = Callable[[int, int], None]
