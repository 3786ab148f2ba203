"""Where the loaders look for files and in what order, what they do with a bad local file, and the error raised
when a dataset is nowhere to be had. A place's being searched shows in its side effects: a bad file there is warned
about (or, in the cache, deleted), while one in a place never reached stays untouched and silent."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import numpy as np
import pytest

from lamina.dataset import (
    DATASETS,
    FASHION_MNIST,
    MNIST,
    SYSTEM_DATASETS_DIR,
    DatasetName,
    DatasetNotFoundError,
    DatasetSpec,
    MNISTSplits,
    default_cache_dir,
    load,
    load_dataset,
    synthetic_dataset,
)

_SOURCE = synthetic_dataset("mnist", seed=1)


@pytest.fixture
def no_warnings() -> Iterator[None]:
    """Turn every warning into an error, proving that no place holding bad files was searched."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _spoil(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in _SOURCE.files:
        (directory / name).write_bytes(b"not an IDX file")
    return directory


def _load(tmp_path: Path, root: Path | None = None, spec: DatasetSpec = _SOURCE.spec) -> MNISTSplits:
    return load_dataset(
        spec, root, cache_dir=tmp_path / "cache", system_dir=tmp_path / "system", download=False, progress=False
    )


def _assert_is_source(loaded: MNISTSplits) -> None:
    np.testing.assert_array_equal(loaded.train_images, _SOURCE.splits.train_images)
    np.testing.assert_array_equal(loaded.test_labels, _SOURCE.splits.test_labels)


@pytest.mark.usefixtures("no_warnings")
def test_root_is_searched_before_lamina_data_cache_and_system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAMINA_DATA", str(tmp_path / "data"))
    _spoil(tmp_path / "data" / "mnist")
    cache = _spoil(tmp_path / "cache" / "mnist")
    _spoil(tmp_path / "system" / "mnist")
    _assert_is_source(_load(tmp_path, _SOURCE.write(tmp_path / "root")))
    assert (cache / "train-images-idx3-ubyte.gz").read_bytes() == b"not an IDX file"


@pytest.mark.usefixtures("no_warnings")
def test_root_argument_replaces_lamina_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAMINA_DATA", str(tmp_path / "data"))
    _spoil(tmp_path / "data" / "mnist")
    _SOURCE.write(tmp_path / "cache" / "mnist")
    _assert_is_source(_load(tmp_path, tmp_path / "empty-root"))


@pytest.mark.usefixtures("no_warnings")
def test_lamina_data_dataset_folder_is_searched_before_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAMINA_DATA", str(tmp_path / "data"))
    _SOURCE.write(tmp_path / "data" / "mnist")
    cache = _spoil(tmp_path / "cache" / "mnist")
    _assert_is_source(_load(tmp_path))
    assert (cache / "train-images-idx3-ubyte.gz").exists()


@pytest.mark.usefixtures("no_warnings")
def test_cache_is_searched_before_the_system_directory(tmp_path: Path) -> None:
    _SOURCE.write(tmp_path / "cache" / "mnist")
    _spoil(tmp_path / "system" / "mnist")
    _assert_is_source(_load(tmp_path))


@pytest.mark.usefixtures("no_warnings")
def test_system_directory_serves_when_nothing_else_has_the_files(tmp_path: Path) -> None:
    _SOURCE.write(tmp_path / "system" / "mnist")
    _assert_is_source(_load(tmp_path))


@pytest.mark.usefixtures("no_warnings")
def test_unpacked_idx_files_are_accepted(tmp_path: Path) -> None:
    root = _SOURCE.write(tmp_path / "root", compressed=False)
    assert sorted(path.name for path in root.iterdir())[0] == "t10k-images-idx3-ubyte"
    _assert_is_source(_load(tmp_path, root))


def test_bad_file_in_lamina_data_is_skipped_with_a_warning_and_left_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAMINA_DATA", str(tmp_path / "data"))
    data = _spoil(tmp_path / "data" / "mnist")
    _SOURCE.write(tmp_path / "system" / "mnist")
    with pytest.warns(UserWarning, match="skipping unusable dataset file"):
        _assert_is_source(_load(tmp_path))
    assert (data / "train-images-idx3-ubyte.gz").read_bytes() == b"not an IDX file"


def test_truncated_file_in_system_directory_is_skipped_with_a_warning_and_left_in_place(tmp_path: Path) -> None:
    system = _SOURCE.write(tmp_path / "system" / "mnist")
    name = "train-images-idx3-ubyte.gz"
    truncated = _SOURCE.files[name][:-100]
    (system / name).write_bytes(truncated)
    with pytest.warns(UserWarning, match="broken gzip stream"), pytest.raises(DatasetNotFoundError, match=name):
        _load(tmp_path)
    assert (system / name).read_bytes() == truncated


def test_well_formed_files_of_another_dataset_are_refused_by_checksum(tmp_path: Path) -> None:
    other = synthetic_dataset("mnist", seed=2)
    root = other.write(tmp_path / "root")
    with pytest.warns(UserWarning, match="IDX contents have md5"), pytest.raises(DatasetNotFoundError):
        _load(tmp_path, root)


def test_offline_with_nothing_found_names_the_files_the_places_and_the_remedies(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as raised:
        _load(tmp_path, spec=FASHION_MNIST)
    message = str(raised.value)
    assert isinstance(raised.value, FileNotFoundError)
    for file in FASHION_MNIST.files:
        assert file.filename in message
    assert str(tmp_path / "cache" / "fashion-mnist") in message
    assert str(tmp_path / "system" / "fashion-mnist") in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "LAMINA_DATA" in message
    assert "download=True" in message


def test_mnist_error_suggests_no_system_package(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as raised:
        _load(tmp_path, spec=MNIST)
    assert "apt-get" not in str(raised.value)


def test_the_command_line_error_names_flags_not_python_arguments(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as raised:
        load_dataset(
            MNIST,
            tmp_path / "given",
            cache_dir=tmp_path / "cache",
            system_dir=tmp_path / "system",
            download=False,
            progress=False,
            interface="command line",
        )
    message = str(raised.value)
    assert f"{tmp_path / 'given'} (--data)" in message
    assert "--data DIR" in message
    assert "--no-download" in message
    assert "apt-get install dataset-fashion-mnist, then --dataset fashion-mnist" in message
    for python_words in ("root=", "download=True", "download=False", "root argument"):
        assert python_words not in message


def test_default_cache_dir_honours_xdg_cache_home(tmp_path: Path) -> None:
    assert default_cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "lamina" / "datasets"


def test_default_cache_dir_ignores_a_relative_xdg_cache_home() -> None:
    expected = Path.home() / ".cache" / "lamina" / "datasets"
    assert default_cache_dir({"XDG_CACHE_HOME": "relative"}) == expected
    assert default_cache_dir({}) == expected


@pytest.mark.usefixtures("no_warnings")
def test_user_cache_defaults_to_xdg_cache_home(tmp_path: Path) -> None:
    _SOURCE.write(tmp_path / "xdg-cache" / "lamina" / "datasets" / "mnist")
    loaded = load_dataset(_SOURCE.spec, system_dir=tmp_path / "system", download=False, progress=False)
    _assert_is_source(loaded)


def test_load_refuses_an_unknown_dataset_name() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'cifar10'"):
        load(cast(DatasetName, "cifar10"))


def test_catalog_lists_both_datasets_with_md5_digests_and_mirrors() -> None:
    assert dict(DATASETS) == {"mnist": MNIST, "fashion-mnist": FASHION_MNIST}
    for spec in DATASETS.values():
        assert spec.mirrors
        assert all(mirror.startswith(("http://", "https://")) for mirror in spec.mirrors)
        for file in spec.files:
            assert len(file.md5) == len(file.idx_md5) == 32
            assert file.shape[0] in (60000, 10000)
    assert Path("/usr/share/datasets") == SYSTEM_DATASETS_DIR
