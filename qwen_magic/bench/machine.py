"""What a run records about the machine, so a reader can judge its absolute figures."""

from __future__ import annotations

import os
import platform
from typing import Any

import psutil

from ..providers.engine_hooks import system_info as llama_system_info


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on this platform
        return None


def package_version(name: str) -> str | None:
    # Here, not at the top: every `qwen-magic` command imports this package to build its
    # parser, and importlib.metadata pulls in the email package.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def cpu_name() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return cpu


def machine_info() -> dict[str, Any]:
    try:
        system_info: str | None = llama_system_info()
    except Exception:  # only informative
        system_info = None
    return {
        "cpu": cpu_name(),
        "logical_cpus": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_total_mb": psutil.virtual_memory().total // 1024**2,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {name: package_version(name) for name in
                     ("qwen-magic", "llama_cpp_python", "ipython", "numpy", "psutil")},
        "llama_cpp_system_info": system_info,
        "loadavg_start": loadavg(),
    }
