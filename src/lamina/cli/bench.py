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

from lamina.cli.bench_cases import (
    Case,
    backward_compile_case,
    cnn_train_case,
    conv_case,
    elementwise_case,
    first_step_case,
    matmul_case,
    mlp_train_case,
    small_op_case,
    softmax_case,
    sum_case,
    torch_module,
)
from lamina.cli.bench_llm import llm_case
from lamina.cli.bench_setup import (
    COMPILER_CHOICES,
    REFERENCE_CAP_VARIABLES,
    Configuration,
    caps_for,
    child_arguments,
    competing_load,
    configurations,
    cpu_model,
    reference_capability,
    run_in_child,
)
from lamina.device import CPUCompiler
from lamina.device.opencl import OpenCLCompiler
from lamina.engine.runtime import compiler_for, target_for
from lamina.tensor import current_context, options

SUITE: dict[str, Callable[[], Case]] = {
    "matmul_512": lambda: matmul_case(512, 512, 512),
    "matmul_1024": lambda: matmul_case(1024, 1024, 1024),
    "matmul_2048": lambda: matmul_case(2048, 2048, 2048),
    "gemm_64x64x128": lambda: matmul_case(64, 64, 128),
    "gemm_128x192x192": lambda: matmul_case(128, 192, 192),
    "gemm_128x128x256": lambda: matmul_case(128, 128, 256),
    "elementwise_16M": lambda: elementwise_case(1 << 24),
    "small_op_64x64": lambda: small_op_case(64),
    "sum_16M": lambda: sum_case(1 << 24),
    "softmax_4096": lambda: softmax_case(4096, 4096),
    "conv2d_fwd_bwd": lambda: conv_case(64, 8, 16, 28),
    "mlp_train_step": mlp_train_case,
    "cnn_train_step": cnn_train_case,
    "first_step_cold": lambda: first_step_case(warm=False),
    "first_step_warm": lambda: first_step_case(warm=True),
    "backward_compile": backward_compile_case,
    "llm_prefill_small": lambda: llm_case("small", "prefill", torch_module()),
    "llm_decode_small": lambda: llm_case("small", "decode", torch_module()),
    "llm_prefill_gpt2": lambda: llm_case("gpt2", "prefill", torch_module()),
    "llm_decode_gpt2": lambda: llm_case("gpt2", "decode", torch_module()),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cases", nargs="*", default=None, help=f"cases to run (default all): {', '.join(SUITE)}")
    parser.add_argument("--output", type=Path, default=None, help="write the report as JSON here")
    parser.add_argument("--compare", type=Path, default=None, help="an earlier JSON report to compare with")
    parser.add_argument("--markdown", action="store_true", help="also print the results as a markdown table")
    parser.add_argument("--budget", type=float, default=2.0, help="seconds of timing per library and case")
    parser.add_argument("--device", default="CPU", help="the device lamina runs on (CPU, OPENCL); numpy and torch: CPU")
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="threads each library may use (default: all cores)"
    )
    parser.add_argument(
        "--compiler", choices=COMPILER_CHOICES, default=None, help="the C compiler (default: $CC, else the first found)"
    )
    parser.add_argument(
        "--march", nargs="+", default=None, help="the -march of lamina's kernels, one run each (default: native)"
    )
    parser.add_argument("--load", action="store_true", help="a busy process spins on one core while cases are timed")
    parser.add_argument(
        "--reference-isa",
        choices=("matched", "native"),
        default="matched",
        help="matched (default): under a -march narrower than the machine's, numpy and torch are capped to the"
        " same instruction set; native: they run the machine's widest code",
    )


BLOCKS = 3
"""Each library is timed in this many blocks, taking turns: a stretch of machine noise (another tenant's
work) then lands in every library's samples, not in one library's alone."""

SETTLE_SECONDS = 0.25
"""Pause before a block: the previous library's worker threads spin for a while after its last call (LLVM's
OpenMP for 200 ms, OpenBLAS's and GNU's for less) and would take the cores from the next one."""


def time_runners(runners: dict[str, Callable[[], Any]], budget: float, self_timed: bool = False) -> dict[str, float]:
    """Median seconds of each runner: `BLOCKS` blocks per library in turn, each after a pause and one untimed
    call, repeating the runner for its share of `budget` seconds per library (3 to 50 samples in all).

    A self-timed runner returns its own seconds (a fresh process's first step, say) instead of being timed,
    and runs without the pause and the untimed call.
    """
    samples: dict[str, list[float]] = {name: [] for name in runners}
    per_block = max(50 // BLOCKS, 1)
    for _ in range(BLOCKS):
        for name, run in runners.items():
            if not self_timed:  # a fresh process per sample needs neither
                time.sleep(SETTLE_SECONDS)
                run()
            deadline = time.perf_counter() + budget / BLOCKS
            taken = 0
            while taken < 1 or (time.perf_counter() < deadline and taken < per_block):
                started = time.perf_counter()
                reported = run()
                samples[name].append(float(reported) if self_timed else time.perf_counter() - started)
                taken += 1
    return {name: statistics.median(times) for name, times in samples.items()}


def run_case(name: str, case: Case, budget: float) -> dict[str, Any]:
    runners = {"lamina": case.lamina} | {
        library: runner for library, runner in (("numpy", case.numpy), ("torch", case.torch)) if runner is not None
    }
    seconds = time_runners(runners, budget, case.self_timed)
    lamina_seconds = seconds["lamina"]
    entry: dict[str, Any] = {
        "case": name,
        "title": case.name,
        "unit": case.unit,
        "lamina_ms": lamina_seconds * 1e3,
        "lamina_throughput": case.work / lamina_seconds / _scale(case.unit),
    }
    for library in ("numpy", "torch"):
        if library not in seconds:
            continue
        entry |= {
            f"{library}_ms": seconds[library] * 1e3,
            f"{library}_throughput": case.work / seconds[library] / _scale(case.unit),
            f"ratio_to_{library}": seconds[library] / lamina_seconds,
        }
    if case.reference is not None:
        difference = case.result().astype(np.float64) - case.reference().astype(np.float64)
        entry["max_abs_error"] = float(np.max(np.abs(difference), initial=0.0))
    return entry


def _scale(unit: str) -> float:
    return 1e9 if unit in ("GFLOP/s", "GB/s") else 1.0


def format_row(entry: dict[str, Any]) -> str:
    parts = [
        f"{entry['title']:<52} {entry['lamina_ms']:10.3f} ms  {entry['lamina_throughput']:8.2f} {entry['unit']:<8}"
    ]
    for library in ("numpy", "torch"):
        if f"{library}_ms" in entry:
            parts.append(f"{library} {entry[f'{library}_throughput']:8.2f}  x{entry[f'ratio_to_{library}']:.2f}")
    if "max_abs_error" in entry:
        parts.append(f"err {entry['max_abs_error']:.1e}")
    return "  ".join(parts)


def format_markdown(report: dict[str, Any]) -> str:
    """The report as a markdown table: lamina's time and throughput, and its speed relative to each library."""

    def ratio(entry: dict[str, Any], library: str) -> str:
        key = f"ratio_to_{library}"
        return f"{entry[key]:.2f}x ({entry[f'{library}_ms']:.3g} ms)" if key in entry else "n/a"

    rows = [
        "| case | lamina | throughput | vs numpy | vs torch |",
        "|---|---|---|---|---|",
    ]
    for entry in report["cases"]:
        throughput = f"{entry['lamina_throughput']:.3g} {entry['unit']}"
        rows.append(
            f"| {entry['title']} | {entry['lamina_ms']:.3g} ms | {throughput} | {ratio(entry, 'numpy')} | "
            f"{ratio(entry, 'torch')} |"
        )
    return "\n".join(rows)


def _entries(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Every case of a report, single-configuration or not, by (configuration, case)."""
    reports = report.get("configurations", [report])
    return {(each.get("configuration", ""), entry["case"]): entry for each in reports for entry in each["cases"]}


def compare(report: dict[str, Any], earlier_path: Path) -> list[str]:
    earlier = _entries(json.loads(earlier_path.read_text()))
    lines = []
    for (configuration, case), entry in _entries(report).items():
        before = earlier.get((configuration, case))
        if before is None:
            lines.append(f"{entry['title']:<52} new")
            continue
        change = before["lamina_ms"] / entry["lamina_ms"]
        lines.append(
            f"{entry['title']:<52} {before['lamina_ms']:10.3f} ms -> {entry['lamina_ms']:10.3f} ms  (x{change:.2f})"
        )
    return lines


def run(arguments: argparse.Namespace) -> int:
    names = arguments.cases or list(SUITE)
    unknown = [name for name in names if name not in SUITE]
    if unknown:
        raise ValueError(f"unknown bench cases {unknown}; known: {', '.join(SUITE)}")
    if arguments.threads < 1:
        raise ValueError(f"--threads must be at least 1, got {arguments.threads}")
    wanted = configurations(arguments.compiler, arguments.march)
    matched = arguments.reference_isa == "matched" and arguments.device.upper() == "CPU"
    caps = [caps_for(configuration) if matched else {} for configuration in wanted]
    if len(wanted) == 1 and all(os.environ.get(name) == value for name, value in caps[0].items()):
        report = run_configuration(names, arguments, wanted[0])
        reports = [report]
    else:
        forwarded = child_arguments(
            names, arguments.budget, arguments.device, arguments.threads, arguments.load, arguments.reference_isa
        )
        reports = [run_in_child(configuration, forwarded, cap) for configuration, cap in zip(wanted, caps, strict=True)]
        report = reports[0] if len(reports) == 1 else {"cpu_model": cpu_model(), "configurations": reports}
    if arguments.markdown:
        for each in reports:
            flags = " ".join(each["compiler_flags"])
            print(f"\n{each['configuration']} ({each['target']}) on {each['cpu_model']}, flags {flags}")
            print(f"torch's kernels: {each.get('torch_capability') or 'no torch'}; caps: {each.get('reference_caps')}")
            print(format_markdown(each))
    if arguments.output is not None:
        arguments.output.write_text(json.dumps(report, indent=2))
        print(f"wrote {arguments.output}")
    if arguments.compare is not None:
        print("\n".join(compare(report, arguments.compare)))
    return 0


def run_configuration(names: list[str], arguments: argparse.Namespace, configuration: Configuration) -> dict[str, Any]:
    """Time `names` in this process with lamina's kernels built as `configuration` says: the report."""
    threads = arguments.threads
    torch_version = _pin_torch_threads(threads)
    device = arguments.device.upper()
    cc = configuration.compiler or current_context().cc
    with options(cc=cc, march=configuration.march):
        compiler = compiler_for(device)
        target = target_for(device).name
    version, flags = (compiler.version, list(compiler.flags)) if isinstance(compiler, CPUCompiler) else ("", [])
    if isinstance(compiler, OpenCLCompiler):
        version = compiler.device.description.split(" | ")[0]
    report: dict[str, Any] = {
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "device": device,
        "numpy": np.__version__,
        "torch": torch_version,
        "compiler": version,
        "compiler_flags": flags,
        "configuration": _label(compiler, configuration),
        "target": target,
        "torch_capability": reference_capability(),
        "reference_caps": {name: os.environ[name] for name in REFERENCE_CAP_VARIABLES if name in os.environ},
        "cases": [],
    }
    print(f"{cpu_model()}; threads per library: {threads}; torch: {torch_version or 'not installed'}")
    print(f"lamina on {device}: {version}; target {target}; flags: {' '.join(flags)}")
    print(f"torch's kernels: {report['torch_capability'] or 'no torch'}; reference caps: {report['reference_caps']}")
    if "Portable Computing Language" in version:
        print("PoCL runs OpenCL on this CPU: these figures measure the OpenCL path, not a GPU")
    changed = options(threads=threads, device=device, cc=cc, march=configuration.march)
    with threadpool_limits(limits=threads), changed, competing_load(arguments.load) as load:
        report["load"] = load
        if load is not None:
            print(f"under load: {load}")
        for name in names:
            entry = run_case(name, SUITE[name](), arguments.budget)
            report["cases"].append(entry)
            print(format_row(entry), flush=True)
    return report


def _label(compiler: object, configuration: Configuration) -> str:
    """What the kernels are really built with: the process's compiler was made once, maybe before this run."""
    if isinstance(compiler, CPUCompiler):
        return f"{Path(compiler.command[0]).name}, -march={compiler.march}"
    return configuration.label


def _pin_torch_threads(threads: int) -> str | None:
    """torch's version after capping its threads, or None where torch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return str(torch.__version__)
