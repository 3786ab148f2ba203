"""`lamina bench` end to end on its quickest case: the report names every library's figures and the threads."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from lamina.cli import bench, bench_llm
from lamina.cli.bench import SUITE, compare, time_runners
from lamina.cli.bench_cases import torch_module
from lamina.cli.bench_setup import (
    REFERENCE_CAP_VARIABLES,
    Configuration,
    child_arguments,
    competing_load,
    configurations,
    reference_caps,
)
from lamina.cli.main import main
from lamina.llm import GPT2Config


def test_bench_writes_a_json_report_and_compares_with_an_earlier_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.json"
    arguments = ["bench", "--cases", "gemm_64x64x128", "sum_16M", "--budget", "0.01", "--threads", "1"]
    assert main([*arguments, "--output", str(report)]) == 0
    written = json.loads(report.read_text())
    assert written["threads"] == 1
    entry = written["cases"][0]
    assert entry["case"] == "gemm_64x64x128"
    assert entry["unit"] == "GFLOP/s"
    assert entry["lamina_ms"] > 0
    assert entry["numpy_ms"] > 0
    assert entry["ratio_to_numpy"] == pytest.approx(entry["numpy_ms"] / entry["lamina_ms"])
    assert entry["max_abs_error"] < 1e-3
    assert "matmul 64x64x128" in capsys.readouterr().out
    assert all(" -> " in line for line in compare(written, report))


def test_the_suite_has_every_case_the_issue_names() -> None:
    names = {"matmul_1024", "elementwise_16M", "softmax_4096", "conv2d_fwd_bwd", "mlp_train_step"}
    others = {"cnn_train_step", "first_step_cold", "first_step_warm", "gemm_128x192x192", "backward_compile"}
    transformer = {"llm_prefill_small", "llm_decode_small", "llm_prefill_gpt2", "llm_decode_gpt2"}
    assert names | others | transformer <= set(SUITE)


@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_the_transformer_cases_run_and_agree_with_torch(monkeypatch: pytest.MonkeyPatch, phase: str) -> None:
    tiny = GPT2Config(vocab_size=300, n_positions=256, n_embd=32, n_layer=1, n_head=2)
    monkeypatch.setitem(bench_llm.SHAPES, "tiny", tiny)
    case = bench_llm.llm_case("tiny", phase, torch_module())
    for _ in range(4):  # through the JIT's capture into its replays
        case.lamina()
    assert case.result().shape == (1, 300)
    if case.reference is not None and case.torch is not None:
        case.torch()
        np.testing.assert_allclose(case.result(), case.reference(), atol=1e-4)


def test_an_unknown_case_is_one_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--cases", "nope"]) == 1
    assert "unknown bench cases ['nope']" in capsys.readouterr().err


def test_libraries_are_timed_in_alternating_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    # With no time budget each block is one untimed call and one timed one, library after library.
    monkeypatch.setattr(bench, "SETTLE_SECONDS", 0.0)
    calls: list[str] = []

    def recorder(name: str) -> Callable[[], None]:
        return lambda: calls.append(name)

    runners = {name: recorder(name) for name in ("lamina", "numpy", "torch")}
    medians = time_runners(runners, budget=0.0)
    assert calls == ["lamina", "lamina", "numpy", "numpy", "torch", "torch"] * bench.BLOCKS
    assert set(medians) == {"lamina", "numpy", "torch"}
    assert all(seconds >= 0.0 for seconds in medians.values())


def test_a_self_timed_runner_reports_its_own_seconds() -> None:
    reported = iter([3.0, 1.0, 2.0])
    assert time_runners({"lamina": lambda: next(reported)}, budget=0.0, self_timed=True) == {"lamina": 2.0}


def test_configurations_pair_every_compiler_with_every_march() -> None:
    assert configurations(None, None) == [Configuration(None, "native")]
    both = configurations("both", ["native", "x86-64-v3"])
    assert [(each.compiler, each.march) for each in both] == [
        ("gcc", "native"), ("gcc", "x86-64-v3"), ("clang", "native"), ("clang", "x86-64-v3"),
    ]  # fmt: skip
    arguments = child_arguments(["sum_16M"], 0.5, "CPU", 2, load=True)
    assert arguments == [
        "--cases", "sum_16M", "--budget", "0.5", "--device", "CPU", "--threads", "2", "--reference-isa", "matched",
        "--load",
    ]  # fmt: skip


def test_the_references_are_capped_only_below_the_machines_own_instruction_set() -> None:
    avx2 = reference_caps("avx2", "avx512")
    assert avx2["ATEN_CPU_CAPABILITY"] == "avx2"
    assert avx2["MKL_ENABLE_INSTRUCTIONS"] == "AVX2"
    assert avx2["OPENBLAS_CORETYPE"] == "Haswell"
    assert set(avx2) == set(REFERENCE_CAP_VARIABLES)
    assert reference_caps("avx512", "avx512") == {}
    assert reference_caps("avx2", "avx2") == {}  # an AVX2 machine's references run AVX2 already
    assert reference_caps("neon", "neon") == {}
    assert reference_caps("sse2", "avx2")["ATEN_CPU_CAPABILITY"] == "default"


@pytest.mark.skipif(not Path(f"/proc/{os.getpid()}/task").exists(), reason="needs Linux's /proc")
def test_a_competing_load_runs_while_open_and_is_gone_after() -> None:
    with competing_load(enabled=False) as nothing:
        assert nothing is None
    before = _children()
    with competing_load(enabled=True) as load:
        assert load is not None
        assert "busy process" in load
        assert len(_children() - before) == 1
    assert _children() - before == set()


def _children() -> set[int]:
    """The process ids of this process's children, from /proc (the context manager reaps its own)."""
    tasks = Path(f"/proc/{os.getpid()}/task")
    return {int(pid) for task in tasks.iterdir() for pid in (task / "children").read_text().split()}


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x86-64 -march levels")
def test_each_configuration_is_measured_in_its_own_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "report.json"
    arguments = ["bench", "--cases", "gemm_64x64x128", "--budget", "0.01", "--threads", "1", "--markdown"]
    assert main([*arguments, "--march", "native", "x86-64-v3", "--output", str(report)]) == 0
    written = json.loads(report.read_text())
    runs = written["configurations"]
    assert [run["configuration"].split(", ")[1] for run in runs] == ["-march=native", "-march=x86-64-v3"]
    assert runs[1]["target"] == "cpu-avx2"
    assert "-march=x86-64-v3" in runs[1]["compiler_flags"]
    assert all(run["cases"][0]["numpy_ms"] > 0 for run in runs)
    assert written["cpu_model"]
    assert "(cpu-avx2)" in capsys.readouterr().out
    if runs[0]["target"] == "cpu-avx512":  # the AVX2 run's numpy and torch are capped to AVX2 as well
        assert runs[1]["reference_caps"]["OPENBLAS_CORETYPE"] == "Haswell"
        assert runs[1]["torch_capability"] in (None, "AVX2")
        assert runs[0]["reference_caps"] == {}
