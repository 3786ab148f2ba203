"""The kernel cache: memory and disk hits, damaged or foreign entries rebuilt, racing writers, a private directory."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from lamina.device import CacheDirectoryError, CPUCompiler, KernelCache, kernel_key
from lamina.device.cache import KERNELS

SOURCE = "void twice(void* restrict data0) { float* x = data0; for (int i = 0; i < 8; i++) x[i] *= 2.0f; }\n"

# Compiles SOURCE with the default compiler, runs it, and prints the cache's counters and the result as JSON.
CHILD = f"""
import json, sys
import numpy as np
from lamina.device import Buffer, CPUCompiler, KernelCache, Program
from lamina.dtype import dtypes
cache = KernelCache(sys.argv[1])
program = Program("twice", cache.compile(CPUCompiler(cache=cache), {SOURCE!r}), n_buffers=1, cache=cache)
buffer = Buffer("CPU", 8, dtypes.float32).copyin(np.arange(8, dtype=np.float32))
program(buffer)
stats = cache.stats
print(json.dumps({{"compiles": stats.compiles, "hits": stats.hits, "rejected": stats.rejected,
                   "result": buffer.numpy().tolist(), "directory": str(cache.directory)}}))
"""
EXPECTED = [2.0 * i for i in range(8)]


def run_child(cache_dir: Path) -> dict[str, object]:
    completed = subprocess.run([sys.executable, "-c", CHILD, str(cache_dir)], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    result: dict[str, object] = json.loads(completed.stdout)
    return result


def test_second_compile_in_the_same_process_is_a_memory_hit(compiler: CPUCompiler, cache: KernelCache) -> None:
    first = cache.compile(compiler, SOURCE)
    assert cache.compile(compiler, SOURCE) == first
    assert (cache.stats.compiles, cache.stats.hits) == (1, 1)


def test_second_process_compiles_nothing(compiler: CPUCompiler, tmp_path: Path) -> None:
    first = run_child(tmp_path)
    second = run_child(tmp_path)
    assert first["directory"] == str(tmp_path)
    assert (first["compiles"], first["hits"]) == (1, 0)
    assert (second["compiles"], second["hits"]) == (0, 3)  # the compiler's probe, its -march features, the kernel
    assert first["result"] == second["result"] == EXPECTED


def test_concurrent_writers_all_succeed_and_leave_a_valid_entry(compiler: CPUCompiler, tmp_path: Path) -> None:
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [child.communicate()[0] for child in children]
    assert [child.returncode for child in children] == [0, 0, 0, 0]
    assert all(json.loads(output)["result"] == EXPECTED for output in outputs)
    fresh = KernelCache(tmp_path)
    assert fresh.get(KERNELS, kernel_key(SOURCE, compiler)) is not None
    assert fresh.stats.rejected == 0
    leftovers = [path.name for path in (tmp_path / KERNELS).iterdir() if path.name.startswith(".tmp-")]
    assert leftovers == []


# Four processes overwrite one entry with a large payload while reading it back: every read is whole or absent.
WRITER = """
import sys
from lamina.device import KernelCache
cache = KernelCache(sys.argv[1])
payload = bytes(range(256)) * 4096
for _ in range(40):
    cache.put("race", "shared", payload)
    seen = KernelCache(sys.argv[1])
    assert seen.get("race", "shared") in (None, payload)
    assert seen.stats.rejected == 0, "a reader saw a partial entry"
"""


def test_racing_writers_never_expose_a_partial_entry(tmp_path: Path) -> None:
    children = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)]) for _ in range(4)]
    assert [child.wait() for child in children] == [0, 0, 0, 0]
    assert KernelCache(tmp_path).get("race", "shared") == bytes(range(256)) * 4096


def flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-10])


def replace_with_foreign_file(path: Path) -> None:
    path.write_bytes(b"\x7fELF this is not a lamina cache entry" * 4)


def truncate_to_nothing(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize("damage", [flip_last_byte, truncate, replace_with_foreign_file, truncate_to_nothing])
def test_damaged_entry_is_rejected_deleted_and_rebuilt(
    compiler: CPUCompiler, tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    binary = KernelCache(tmp_path).compile(compiler, SOURCE)
    entry = KernelCache(tmp_path).entry_path(KERNELS, kernel_key(SOURCE, compiler))
    damage(entry)
    rebuilding = KernelCache(tmp_path)
    assert rebuilding.compile(compiler, SOURCE) == binary
    assert (rebuilding.stats.rejected, rebuilding.stats.compiles) == (1, 1)
    reading = KernelCache(tmp_path)
    assert reading.compile(compiler, SOURCE) == binary
    assert (reading.stats.rejected, reading.stats.compiles, reading.stats.hits) == (0, 0, 1)


def test_entry_stored_under_another_key_is_rejected(tmp_path: Path) -> None:
    writer = KernelCache(tmp_path)
    writer.put("autotune", "key-a", b"payload")
    writer.entry_path("autotune", "key-b").write_bytes(writer.entry_path("autotune", "key-a").read_bytes())
    reader = KernelCache(tmp_path)
    assert reader.get("autotune", "key-b") is None
    assert reader.stats.rejected == 1
    assert not reader.entry_path("autotune", "key-b").exists()
    assert reader.get("autotune", "key-a") == b"payload"


def test_generic_put_and_get_round_trip_across_instances(tmp_path: Path) -> None:
    KernelCache(tmp_path).put("autotune", "matmul 64x64 / any string ../", b"\x00\x01 local=4")
    reader = KernelCache(tmp_path)
    assert reader.get("autotune", "matmul 64x64 / any string ../") == b"\x00\x01 local=4"
    assert reader.get("autotune", "missing") is None
    assert (reader.stats.hits, reader.stats.misses) == (1, 1)


def test_kind_must_be_a_plain_directory_name(cache: KernelCache) -> None:
    with pytest.raises(ValueError, match=r"cache kind '\.\./escape'"):
        cache.put("../escape", "key", b"")


def test_cache_directories_are_private(tmp_path: Path) -> None:
    root = tmp_path / "fresh" / "cache"
    KernelCache(root).put("autotune", "key", b"payload")
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE((root / "autotune").stat().st_mode) == 0o700
    entry = KernelCache(root).entry_path("autotune", "key")
    assert stat.S_IMODE(entry.stat().st_mode) & 0o077 == 0


def test_a_cache_directory_others_can_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(CacheDirectoryError, match=r"writable by other users \(mode 777\).*chmod go-w"):
        KernelCache(shared).put(KERNELS, "key", b"payload")
    assert not (shared / KERNELS).exists()


def test_a_cache_kind_directory_others_can_write_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    KernelCache(root).put(KERNELS, "key", b"payload")
    (root / KERNELS).chmod(0o775)
    with pytest.raises(CacheDirectoryError, match="writable by other users"):
        KernelCache(root).get(KERNELS, "key")


def test_a_symbolic_link_in_place_of_a_kind_directory_is_refused(tmp_path: Path) -> None:
    root, elsewhere = tmp_path / "cache", tmp_path / "elsewhere"
    root.mkdir(mode=0o700)
    elsewhere.mkdir(mode=0o700)
    (root / KERNELS).symlink_to(elsewhere)
    with pytest.raises(CacheDirectoryError, match="symbolic link"):
        KernelCache(root).get(KERNELS, "key")


def test_a_cache_under_a_world_writable_parent_without_the_sticky_bit_is_refused(tmp_path: Path) -> None:
    parent = tmp_path / "open"
    parent.mkdir()
    parent.chmod(0o777)
    with pytest.raises(CacheDirectoryError, match="writable by everyone without the sticky bit"):
        KernelCache(parent / "cache").put(KERNELS, "key", b"payload")


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to another user needs root")
def test_a_cache_directory_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir(mode=0o700)
    os.chown(foreign, 4242, 4242)
    with pytest.raises(CacheDirectoryError, match="belongs to user id 4242"):
        KernelCache(foreign).put(KERNELS, "key", b"payload")


def test_a_directory_in_place_of_an_entry_is_removed_like_a_corrupt_entry(tmp_path: Path) -> None:
    cache = KernelCache(tmp_path / "cache")
    squatter = cache.entry_path(KERNELS, "key")
    (squatter / "inside").mkdir(parents=True)
    assert cache.get(KERNELS, "key") is None
    assert cache.stats.rejected == 1
    cache.put(KERNELS, "key", b"payload")
    assert KernelCache(tmp_path / "cache").get(KERNELS, "key") == b"payload"
    library = cache.shared_object_path(b"binary")
    library.unlink()
    library.mkdir()
    assert cache.shared_object_path(b"binary").read_bytes() == b"binary"


def test_a_chosen_directory_that_cannot_be_used_names_who_chose_it(tmp_path: Path) -> None:
    plain_file = tmp_path / "file"
    plain_file.write_text("not a directory")
    with pytest.raises(CacheDirectoryError, match=f"LAMINA_CACHE={plain_file}: .* is not a directory"):
        KernelCache(plain_file, origin=f"LAMINA_CACHE={plain_file}").put(KERNELS, "key", b"payload")
    below = plain_file / "below"
    with pytest.raises(CacheDirectoryError, match=r"LAMINA_CACHE=.*cannot create"):
        KernelCache(below, origin=f"LAMINA_CACHE={below}").put(KERNELS, "key", b"payload")


def test_an_unusable_default_directory_falls_back_to_a_private_one_with_a_warning(tmp_path: Path) -> None:
    blocker = tmp_path / "xdg"
    blocker.write_text("a file where the cache's parent should be")
    cache = KernelCache(blocker / "lamina", fallback=True)
    with pytest.warns(UserWarning, match="for this process only"):
        cache.put(KERNELS, "key", b"payload")
    assert cache.get(KERNELS, "key") == b"payload"
    assert stat.S_IMODE(cache.directory.stat().st_mode) == 0o700
