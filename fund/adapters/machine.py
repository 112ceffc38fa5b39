"""What machine a benchmark ran on, read one way for every benchmark: CPU model, logical cores,
memory, operating system, Python, and the versions of the libraries it names.

>>> info = machine_info("sqlite")
>>> sorted(info)[:3], info["logical_cores"].isdigit()
(['cpu', 'cpu_family_model', 'logical_cores'], True)
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path


def _proc_line(path: str, prefix: str) -> str | None:
    """The value after ``prefix:`` on the first such line of a /proc file (None off Linux)."""
    try:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _version(library: str) -> str:
    if library == "sqlite":  # the SQLite library Python links, not a package
        import sqlite3

        return sqlite3.sqlite_version
    try:
        return metadata.version(library)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info(*libraries: str) -> dict[str, str]:
    """``cpu``, ``cpu_family_model``, ``logical_cores``, ``memory`` (GiB), ``os``, ``python``, then one entry per library
    named (``"sqlite"`` is the SQLite library itself)."""
    memory_kib = _proc_line("/proc/meminfo", "MemTotal")
    info = {
        "cpu": _proc_line("/proc/cpuinfo", "model name") or platform.processor() or "?",
        # the same model name covers several generations (AMD's "EPYC" here): family and model tell them apart
        "cpu_family_model": "/".join(v for v in (_proc_line("/proc/cpuinfo", "cpu family"),
                                                  _proc_line("/proc/cpuinfo", "model")) if v) or "?",
        "logical_cores": str(os.cpu_count()),
        "memory": f"{int(memory_kib.split()[0]) / 1024 / 1024:.1f} GiB" if memory_kib else "?",
        "os": platform.platform(),
        "python": platform.python_version(),
    }
    info.update({library: _version(library) for library in libraries})
    return info
