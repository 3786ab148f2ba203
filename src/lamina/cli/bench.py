"""`lamina bench`: time lamina against numpy (and torch, when importable) in one run, JSON out.

Each case reports its median latency, its throughput (GFLOP/s or GB/s), the largest absolute
difference from numpy's answer, and lamina's speed as a ratio to numpy and to torch measured in
the same process. `--compare old.json` prints how each case moved since an earlier report.
The thread count each library may use is pinned to the same number and reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from lamina.cli.bench_cases import Case, elementwise_case, matmul_case, softmax_case, sum_case

SUITE: dict[str, Callable[[], Case]] = {
    "matmul_512": lambda: matmul_case(512, 512, 512),
    "matmul_1024": lambda: matmul_case(1024, 1024, 1024),
    "matmul_2048": lambda: matmul_case(2048, 2048, 2048),
    "gemm_64x64x128": lambda: matmul_case(64, 64, 128),
    "gemm_128x192x192": lambda: matmul_case(128, 192, 192),
    "gemm_128x128x256": lambda: matmul_case(128, 128, 256),
    "elementwise_16M": lambda: elementwise_case(1 << 24),
    "sum_16M": lambda: sum_case(1 << 24),
    "softmax_4096": lambda: softmax_case(4096, 4096),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cases", nargs="*", default=None, help=f"cases to run (default all): {', '.join(SUITE)}")
    parser.add_argument("--output", type=Path, default=None, help="write the report as JSON here")
    parser.add_argument("--compare", type=Path, default=None, help="an earlier JSON report to compare with")
    parser.add_argument("--budget", type=float, default=2.0, help="seconds of timing per library and case")
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="threads each library may use (default: all cores)"
    )


def _pin_threads(threads: int) -> None:
    # numpy's BLAS read its variables when it loaded, so it is capped through threadpoolctl instead.
    threadpool_limits(limits=threads)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass


def time_runner(run: Callable[[], Any], budget: float) -> float:
    """Median seconds of `run` after one warm-up, repeating until `budget` seconds (3 to 50 times)."""
    run()
    samples: list[float] = []
    deadline = time.perf_counter() + budget
    while len(samples) < 3 or (time.perf_counter() < deadline and len(samples) < 50):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def run_case(name: str, case: Case, budget: float) -> dict[str, Any]:
    lamina_seconds = time_runner(case.lamina, budget)
    numpy_seconds = time_runner(case.numpy, budget)
    torch_seconds = time_runner(case.torch, budget) if case.torch is not None else None
    error = float(np.max(np.abs(case.result().astype(np.float64) - case.reference().astype(np.float64)), initial=0.0))
    scale = 1e9
    entry: dict[str, Any] = {
        "case": name,
        "title": case.name,
        "unit": case.unit,
        "lamina_ms": lamina_seconds * 1e3,
        "lamina_throughput": case.work / lamina_seconds / scale,
        "numpy_ms": numpy_seconds * 1e3,
        "numpy_throughput": case.work / numpy_seconds / scale,
        "max_abs_error": error,
        "ratio_to_numpy": numpy_seconds / lamina_seconds,
    }
    if torch_seconds is not None:
        entry |= {
            "torch_ms": torch_seconds * 1e3,
            "torch_throughput": case.work / torch_seconds / scale,
            "ratio_to_torch": torch_seconds / lamina_seconds,
        }
    return entry


def format_row(entry: dict[str, Any]) -> str:
    torch_part = (
        f"  torch {entry['torch_throughput']:8.2f}  x{entry['ratio_to_torch']:.2f}" if "torch_ms" in entry else ""
    )
    return (
        f"{entry['title']:<34} {entry['lamina_ms']:10.3f} ms  {entry['lamina_throughput']:8.2f} {entry['unit']:<8}"
        f"  numpy {entry['numpy_throughput']:8.2f}  x{entry['ratio_to_numpy']:.2f}{torch_part}"
        f"  err {entry['max_abs_error']:.1e}"
    )


def compare(report: dict[str, Any], earlier_path: Path) -> list[str]:
    earlier = {entry["case"]: entry for entry in json.loads(earlier_path.read_text())["cases"]}
    lines = []
    for entry in report["cases"]:
        before = earlier.get(entry["case"])
        if before is None:
            lines.append(f"{entry['title']:<34} new")
            continue
        change = before["lamina_ms"] / entry["lamina_ms"]
        lines.append(
            f"{entry['title']:<34} {before['lamina_ms']:10.3f} ms -> {entry['lamina_ms']:10.3f} ms  (x{change:.2f})"
        )
    return lines


def run(arguments: argparse.Namespace) -> int:
    _pin_threads(arguments.threads)
    names = arguments.cases or list(SUITE)
    unknown = [name for name in names if name not in SUITE]
    if unknown:
        raise ValueError(f"unknown bench cases {unknown}; known: {', '.join(SUITE)}")
    try:
        import torch

        torch_version: str | None = torch.__version__
    except ImportError:
        torch_version = None
    report: dict[str, Any] = {
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "threads": arguments.threads,
        "numpy": np.__version__,
        "torch": torch_version,
        "cases": [],
    }
    print(f"threads per library: {arguments.threads}; torch: {torch_version or 'not installed'}")
    for name in names:
        entry = run_case(name, SUITE[name](), arguments.budget)
        report["cases"].append(entry)
        print(format_row(entry), flush=True)
    if arguments.output is not None:
        arguments.output.write_text(json.dumps(report, indent=2))
        print(f"wrote {arguments.output}")
    if arguments.compare is not None:
        print("\n".join(compare(report, arguments.compare)))
    return 0
