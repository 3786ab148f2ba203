"""C compilers: which one is picked, what its cache key contains, and the errors for missing or failing compilers."""

from __future__ import annotations

import platform
import shutil
from pathlib import Path

import pytest

from lamina.device import (
    OPTIONAL_FLAGS,
    CompileError,
    CompilerNotFoundError,
    CPUCompiler,
    KernelCache,
    find_c_compiler,
    supported_flags,
)
from lamina.device.cpu_features import CPUFeatures, features_from_macros, l2_cache_bytes

VALID = "void noop(void* data0) { (void)data0; }\n"
BROKEN = "void broken(void* data0) {\n  return undeclared_function(data0);\n}\n"


def test_compile_returns_shared_object_bytes(named_compiler: CPUCompiler) -> None:
    assert named_compiler.compile(VALID).startswith(b"\x7fELF")


def test_compile_error_carries_source_and_compiler_message(named_compiler: CPUCompiler) -> None:
    with pytest.raises(CompileError) as raised:
        named_compiler.compile(BROKEN)
    assert raised.value.source == BROKEN
    assert "undeclared_function" in raised.value.message
    assert "   2 |   return undeclared_function(data0);" in str(raised.value)


def test_the_compiler_environment_variable_is_not_read_here(monkeypatch: pytest.MonkeyPatch) -> None:
    # CC is the engine's option (lamina.engine.Context.cc), passed down: this layer never reads the environment.
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    monkeypatch.setenv("CC", "/nonexistent/cc")
    assert find_c_compiler("gcc") == (shutil.which("gcc"),)
    assert find_c_compiler("gcc -g0") == (shutil.which("gcc"), "-g0")
    assert find_c_compiler()[0] != "/nonexistent/cc"


def test_fallback_prefers_clang_then_gcc_then_cc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    for name in ("cc", "gcc", "clang"):
        program = tmp_path / name
        program.write_text("#!/bin/sh\n")
        program.chmod(0o755)
        assert find_c_compiler() == (str(program),)


def test_missing_cc_raises_instead_of_falling_back() -> None:
    with pytest.raises(CompilerNotFoundError, match=r"'/nonexistent/lamina-cc' \(from CC\).*apt-get install gcc"):
        CPUCompiler("/nonexistent/lamina-cc", cc_origin="CC")


def test_missing_explicit_compiler_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CC", raising=False)
    with pytest.raises(CompilerNotFoundError, match="lamina-no-such-cc"):
        CPUCompiler("lamina-no-such-cc")


def test_no_compiler_on_path_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CompilerNotFoundError, match=r"apt-get install gcc, or apt-get install clang\) or set CC"):
        CPUCompiler()


def test_compiler_not_found_is_a_runtime_error() -> None:
    assert issubclass(CompilerNotFoundError, RuntimeError)


def test_cache_key_names_path_version_and_flags(compiler: CPUCompiler) -> None:
    with_define = CPUCompiler(compiler.command[0], extra_flags=["-DVALUE=3"])
    assert compiler.command[0] in compiler.cache_key
    assert compiler.version in compiler.cache_key
    assert "-march=native" in compiler.cache_key
    assert with_define.cache_key != compiler.cache_key
    assert "-DVALUE=3" in with_define.cache_key


def test_extra_flags_reach_the_compiler(named_compiler: CPUCompiler) -> None:
    flagged = CPUCompiler(named_compiler.command[0], extra_flags=["-DVALUE=3"])
    source = "#if VALUE != 3\n#error VALUE not set\n#endif\nvoid k(void* data0) { (void)data0; }\n"
    assert flagged.compile(source).startswith(b"\x7fELF")
    with pytest.raises(CompileError, match="VALUE not set"):
        named_compiler.compile(source)


def test_gcc_accepts_openmp() -> None:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    source = "#include <omp.h>\nvoid k(void* data0) { *(int*)data0 = omp_get_max_threads(); }\n"
    assert CPUCompiler("gcc", extra_flags=["-fopenmp"]).compile(source).startswith(b"\x7fELF")


def test_optional_flags_are_probed_and_openmp_means_parallel(named_compiler: CPUCompiler) -> None:
    probed = supported_flags(named_compiler.command)
    assert set(probed) <= {flag for flags in OPTIONAL_FLAGS for flag in flags}
    assert all(flag in named_compiler.flags for flag in probed)
    assert named_compiler.parallel == ("-fopenmp" in probed)


def test_gcc_supports_every_optional_flag_on_x86() -> None:
    if shutil.which("gcc") is None or platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("needs gcc on x86-64")
    assert CPUCompiler("gcc").parallel


def test_a_compiler_that_rejects_a_flag_does_not_get_it(tmp_path: Path) -> None:
    # A stand-in compiler that fails whenever it sees -fopenmp, and otherwise runs the real one.
    real = shutil.which("gcc") or shutil.which("clang")
    if real is None:
        pytest.skip("no C compiler")
    picky = tmp_path / "picky-cc"
    picky.write_text(f'#!/bin/sh\nfor a in "$@"; do [ "$a" = -fopenmp ] && exit 1; done\nexec {real} "$@"\n')
    picky.chmod(0o755)
    compiler = CPUCompiler(str(picky))
    assert "-fopenmp" not in compiler.flags
    assert not compiler.parallel
    assert compiler.compile(VALID).startswith(b"\x7fELF")


def _wrapper(directory: Path, real: str, marker: str) -> Path:
    """A compiler script that runs `real` and notes each run in `directory / "runs"`."""
    script = directory / "cc-wrapper"
    script.write_text(f'#!/bin/sh\n# {marker}\necho run >> "{directory / "runs"}"\nexec {real} "$@"\n')
    script.chmod(0o755)
    return script


def _runs(directory: Path) -> int:
    runs = directory / "runs"
    return len(runs.read_text().splitlines()) if runs.exists() else 0


def test_a_compiler_is_probed_once_per_binary_and_cache(compiler: CPUCompiler, tmp_path: Path) -> None:
    from lamina.device import compiler as compiler_module

    script = _wrapper(tmp_path, compiler.command[0], "first")
    compiler_module._probe.cache_clear()
    probed = CPUCompiler(str(script), cache=KernelCache(tmp_path / "cache"))
    assert _runs(tmp_path) > 0
    before = _runs(tmp_path)
    compiler_module._probe.cache_clear()  # as in a new process, with a new cache object
    again = CPUCompiler(str(script), cache=KernelCache(tmp_path / "cache"))
    assert _runs(tmp_path) == before
    assert (again.version, again.flags) == (probed.version, probed.flags)
    # A changed binary (an upgrade) is probed afresh.
    _wrapper(tmp_path, compiler.command[0], "second, a little longer")
    compiler_module._probe.cache_clear()
    CPUCompiler(str(script), cache=KernelCache(tmp_path / "cache"))
    assert _runs(tmp_path) > before
    compiler_module._probe.cache_clear()


def test_a_flag_refused_before_is_tried_again_in_a_new_process(compiler: CPUCompiler, tmp_path: Path) -> None:
    # The same binary refuses -fopenmp while a marker file exists (libomp missing), then accepts it (installed).
    from lamina.device import compiler as compiler_module

    missing = tmp_path / "libomp-missing"
    missing.touch()
    script = tmp_path / "cc-without-openmp-yet"
    script.write_text(
        f'#!/bin/sh\nfor a in "$@"; do [ "$a" = -fopenmp ] && [ -e "{missing}" ] && exit 1; done\n'
        f'exec {compiler.command[0]} "$@"\n'
    )
    script.chmod(0o755)
    compiler_module._probe.cache_clear()
    assert "-fopenmp" not in CPUCompiler(str(script), cache=KernelCache(tmp_path / "cache")).flags
    missing.unlink()
    compiler_module._probe.cache_clear()  # as in a new process
    assert ("-fopenmp" in CPUCompiler(str(script), cache=KernelCache(tmp_path / "cache")).flags) == compiler.parallel
    compiler_module._probe.cache_clear()


def test_features_follow_the_compilers_macros() -> None:
    avx512 = features_from_macros({"__AVX512F__", "__AVX2__", "__SSE2__"}, 1 << 21)
    assert avx512 == CPUFeatures("avx512", 64, 32, 1 << 21)
    assert features_from_macros({"__AVX2__", "__AVX__", "__SSE2__"}, 1 << 20).isa == "avx2"
    assert features_from_macros({"__ARM_NEON"}, 1 << 20) == CPUFeatures("neon", 16, 32, 1 << 20)
    assert features_from_macros(set(), 1 << 20).isa == "scalar"
    assert l2_cache_bytes() >= 1 << 10


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x86-64 -march levels")
def test_each_compiler_reports_the_isa_of_the_march_asked_for(named_compiler: CPUCompiler) -> None:
    avx2 = CPUCompiler(named_compiler.command[0], march="x86-64-v3")
    assert (avx2.features.isa, avx2.features.vector_bytes, avx2.features.vector_registers) == ("avx2", 32, 16)
    assert "-march=x86-64-v3" in avx2.flags
    assert "-march=native" not in avx2.flags
    assert not any(flag.startswith("-mprefer-vector-width") for flag in avx2.flags)
    assert CPUCompiler(named_compiler.command[0], march="x86-64").features.isa == "sse2"


def test_an_unknown_march_is_refused_by_name(named_compiler: CPUCompiler) -> None:
    with pytest.raises(ValueError, match=r"LAMINA_MARCH.*no-such-cpu"):
        CPUCompiler(named_compiler.command[0], march="no-such-cpu", march_origin="LAMINA_MARCH")
    with pytest.raises(ValueError, match="not an -march value"):
        CPUCompiler(named_compiler.command[0], march="native; rm -rf /")
