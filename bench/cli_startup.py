"""How long a ``pypireg`` command takes to start and finish, beside ``python -c pass`` (the
interpreter alone) and the peers' own commands (``pypi-server --version``,
``devpi-server --version``) where they are installed: the median CPU and wall time of
several runs, each a new process, and the ratio to the interpreter alone.

    python bench/cli_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def measure(argv: list[str], runs: int) -> tuple[float, float]:
    """Median CPU seconds (user + system, of the child) and wall seconds of ``argv``."""
    cpu, wall = [], []
    subprocess.run(argv, capture_output=True, check=False)  # warm the caches
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=False)
        wall.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(cpu), statistics.median(wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    data = Path(tempfile.mkdtemp(prefix="pypireg-cli-bench-"))
    pypireg = [str(BIN / "pypireg")]
    subprocess.run([*pypireg, "init", "--data", str(data)], capture_output=True, check=True)
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "pypireg --version": [*pypireg, "--version"],
        "pypireg token list": [*pypireg, "token", "list", "--data", str(data)],
        "pypireg project list": [*pypireg, "project", "list", "--data", str(data)],
    }
    for peer in ("pypi-server", "devpi-server"):
        found = shutil.which(peer, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
        if found:
            commands[f"{peer} --version"] = [found, "--version"]
        else:
            print(f"({peer} is not installed: pip install -e '.[bench]')")
    results = {name: measure(argv, runs) for name, argv in commands.items()}
    base_cpu, base_wall = results["python -c pass"]
    print(f"{'command':<26}{'cpu ms':>9}{'wall ms':>9}{'cpu x':>8}{'wall x':>8}")
    for name, (cpu, wall) in results.items():
        print(f"{name:<26}{cpu * 1000:>9.0f}{wall * 1000:>9.0f}"
              f"{cpu / base_cpu:>8.1f}{wall / base_wall:>8.1f}")
    shutil.rmtree(data)


if __name__ == "__main__":
    main()
