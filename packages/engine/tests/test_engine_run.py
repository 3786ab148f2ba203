"""The engine runs a schedule built from UOps alone: kernels compiled and launched in order, results in the
targets' buffers, intermediates freed, verdicts of checks read and raised, launches captured; and the
options come from the environment once, with errors that name the variable."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lamina.device import Buffer
from lamina.device.opencl import opencl_available
from lamina.dtype import dtypes
from lamina.engine import (
    Context,
    attach_buffer,
    buffer_of,
    capturing,
    context_from_environment,
    current_context,
    options,
    run_schedule,
    stats,
)
from lamina.engine.runtime import OPENMP_SPINNING, bound_openmp_spinning
from lamina.schedule import create_schedule, view_base
from lamina.uop import Check, CheckKind, Ops, UOp, checked

pytestmark = pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None and shutil.which("clang") is None,
    reason="no C compiler installed",
)


def _input(values: list[float] | list[int], dtype: object = dtypes.float32) -> UOp:
    array = np.asarray(values, dtype=np.float32 if dtype == dtypes.float32 else np.int64)
    node = UOp.new_buffer("CPU", array.size, dtype)  # type: ignore[arg-type]
    attach_buffer(node, Buffer("CPU", array.size, dtype).copyin(array))  # type: ignore[arg-type]
    return node


def _run(targets: list[UOp]) -> list[np.ndarray]:
    schedule = create_schedule(targets, "CPU")
    run_schedule(schedule, "CPU", current_context())
    return [buffer_of(view_base(schedule.results[target])).numpy() for target in targets]


def test_a_schedule_runs_its_kernels_into_the_targets_buffers() -> None:
    x = _input([1.0, 2.0, 3.0, 4.0])
    doubled = x + x
    total = doubled.reduce_axis(Ops.ADD, (0,))
    before = stats.kernels_run
    got_doubled, got_total = _run([doubled, total])
    np.testing.assert_array_equal(got_doubled, [2.0, 4.0, 6.0, 8.0])
    np.testing.assert_array_equal(got_total, [20.0])
    assert stats.kernels_run - before == 2


def test_a_failed_check_raises_its_error_after_the_run() -> None:
    index = _input([0, 5], dtypes.int64)
    guarded = checked(index + index, index, Check(CheckKind.INDEX, "index", -3, 3, 0, 3))
    with pytest.raises(IndexError, match="index: index 5 is out of bounds for dimension 0 with size 3"):
        _run([guarded])
    fine = _input([0, 2], dtypes.int64)
    (values,) = _run([checked(fine + fine, fine, Check(CheckKind.INDEX, "index", -3, 3, 0, 3))])
    np.testing.assert_array_equal(values, [0, 4])


def test_a_capture_records_every_launch_and_verdict() -> None:
    index = _input([1, 2], dtypes.int64)
    guarded = checked(index + index, index, Check(CheckKind.INDEX, "index", 0, 3, 0, 3))
    with capturing() as capture:
        _run([guarded])
    assert len(capture.launches) == 2  # the value and its verdict
    assert [check.op for _, check in capture.checks] == ["index"]


def test_options_come_from_the_environment_once_and_can_be_changed_for_a_block() -> None:
    environment = {"DEBUG": "2", "DEVICE": "cpu", "NOOPT": "1", "LAMINA_THREADS": "3", "CC": "gcc", "HOME": "/h"}
    context = context_from_environment({**environment, "LAMINA_CACHE": "/tmp/k"})
    assert context == Context(
        debug=2,
        device="CPU",
        noopt=True,
        threads=3,
        beam=0,
        cc="gcc",
        cache_dir=Path("/tmp/k"),
        cache_origin="LAMINA_CACHE=/tmp/k",
    )
    assert context_from_environment({"XDG_CACHE_HOME": "/x"}).cache_dir == Path("/x/lamina")
    assert context_from_environment({}).cache_origin is None
    with pytest.raises(ValueError, match="LAMINA_THREADS"):
        context_from_environment({"LAMINA_THREADS": "0"})
    with pytest.raises(ValueError, match="DEBUG must be an integer"):
        context_from_environment({"DEBUG": "yes"})
    assert context_from_environment({"LAMINA_COPY_CACHE_MB": "0"}).copy_cache_mb == 0
    with pytest.raises(ValueError, match="LAMINA_COPY_CACHE_MB must be at least 0"):
        context_from_environment({"LAMINA_COPY_CACHE_MB": "-1"})
    with options(noopt=True) as changed:
        assert current_context() is changed
        assert changed.noopt
    assert current_context() is not changed


# Runs one kernel in a fresh process, under the environment the test gives it.
CHILD = """
from lamina.engine import current_context, run_schedule
from lamina.schedule import create_schedule
from lamina.uop import UOp
from lamina.dtype import dtypes
ones = UOp.full((4,), dtypes.float32, 1.0)
run_schedule(create_schedule([ones + ones], "CPU"), "CPU", current_context())
print("ran")
"""


def _child(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if key not in ("CC", "LAMINA_CACHE")}
    return subprocess.run([sys.executable, "-c", CHILD], env={**base, **environment}, capture_output=True, text=True)


def test_the_environment_reaches_the_device_through_the_engine(tmp_path: Path) -> None:
    ran = _child({"LAMINA_CACHE": str(tmp_path / "cache")})
    assert ran.stdout.strip() == "ran", ran.stderr
    assert any((tmp_path / "cache" / "kernels").iterdir())
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    refused = _child({"LAMINA_CACHE": str(not_a_directory)})
    assert f"LAMINA_CACHE={not_a_directory}" in refused.stderr
    missing = _child({"LAMINA_CACHE": str(tmp_path / "cache"), "CC": "/nonexistent/lamina-cc"})
    assert "'/nonexistent/lamina-cc' (from CC)" in missing.stderr


def test_a_replay_runs_the_captured_launches_on_new_buffers() -> None:
    from lamina.engine import plan_replay

    x = _input([1.0, 2.0, 3.0])
    doubled = x + x
    schedule = create_schedule([doubled], "CPU")
    with capturing() as capture:
        run_schedule(schedule, "CPU", current_context())
    result = view_base(schedule.results[doubled])
    replay, _, (output,) = plan_replay(capture, [x], [], [result])
    assert output[0] == "fresh"
    assert replay.graph is not None  # the CPU runs the launches as one native call
    new_input = Buffer("CPU", 3, dtypes.float32).copyin(np.array([5.0, 6.0, 7.0], np.float32))
    pools = replay([new_input], [])
    np.testing.assert_array_equal(pools["fresh"][output[1]].numpy(), [10.0, 12.0, 14.0])
    np.testing.assert_array_equal(buffer_of(result).numpy(), [2.0, 4.0, 6.0])  # the captured result is untouched


@pytest.mark.skipif(not opencl_available(), reason="no OpenCL platform installed")
def test_the_opencl_device_is_chosen_by_the_environment(tmp_path: Path) -> None:
    child = CHILD.replace('"CPU"', '"OPENCL"')
    base = {key: value for key, value in os.environ.items() if key != "LAMINA_OPENCL_DEVICE"}
    environment = {**base, "LAMINA_CACHE": str(tmp_path / "cache")}
    ran = subprocess.run([sys.executable, "-c", child], env=environment, capture_output=True, text=True)
    assert ran.stdout.strip() == "ran", ran.stderr
    missing = {**environment, "LAMINA_OPENCL_DEVICE": "99"}
    refused = subprocess.run([sys.executable, "-c", child], env=missing, capture_output=True, text=True)
    assert "LAMINA_OPENCL_DEVICE=99: OpenCL device 99 does not exist; the devices are 0: " in refused.stderr


TARGET_CHILD = """
from lamina.engine import target_for
target = target_for("CPU")
print(target.name, target.vector_bytes, target.vector_registers)
"""


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x86-64 -march levels")
def test_lamina_march_chooses_the_cpu_the_kernels_are_generated_for(tmp_path: Path) -> None:
    base = {key: value for key, value in os.environ.items() if key not in ("LAMINA_MARCH", "LAMINA_CACHE")}
    base["LAMINA_CACHE"] = str(tmp_path)

    def target_under(march: str) -> subprocess.CompletedProcess[str]:
        environment = {**base, "LAMINA_MARCH": march}
        return subprocess.run([sys.executable, "-c", TARGET_CHILD], env=environment, capture_output=True, text=True)

    assert target_under("x86-64-v3").stdout.split() == ["cpu-avx2", "32", "16"]
    assert target_under("x86-64").stdout.split() == ["cpu-sse2", "16", "16"]
    refused = target_under("no-such-cpu")
    assert refused.returncode != 0
    assert "LAMINA_MARCH" in refused.stderr
    assert "no-such-cpu" in refused.stderr


def test_openmp_spinning_is_bounded_unless_the_user_chose_a_policy() -> None:
    environment: dict[str, str] = {}
    bound_openmp_spinning(environment)
    assert environment == OPENMP_SPINNING
    chosen = {"GOMP_SPINCOUNT": "7"}
    bound_openmp_spinning(chosen)
    assert chosen["GOMP_SPINCOUNT"] == "7"
    assert chosen["KMP_BLOCKTIME"] == OPENMP_SPINNING["KMP_BLOCKTIME"]
    passive = {"OMP_WAIT_POLICY": "passive"}
    bound_openmp_spinning(passive)
    assert passive == {"OMP_WAIT_POLICY": "passive"}
