"""SONATA spike files: layout per the spec, round trip, crash safety, full disk, bad files."""

from __future__ import annotations

import errno
import subprocess
import sys
from collections import namedtuple

import h5py
import numpy as np
import pytest

from brainmac.errors import StoreError
from brainmac.io import sonata
from brainmac.io.sonata import SpikeWriter, read_spikes

SIZES = {"L23E": 50, "L4I": 20, "A": 5}  # not alphabetical: the file keeps this order


def batches(rng, n_batches=6, per_batch=40):
    """Per population, time-ordered batches [(times_ms, node_ids), ...]."""
    out = {}
    for name, size in SIZES.items():
        t = np.sort(rng.uniform(0.0, 1000.0, n_batches * per_batch))
        ids = rng.integers(0, size, t.size)
        cuts = range(0, t.size, per_batch)
        out[name] = [(t[k : k + per_batch], ids[k : k + per_batch]) for k in cuts]
    return out


def write_all(path, data, **kw):
    with SpikeWriter(path, SIZES, **kw) as writer:
        for k in range(len(data["L23E"])):
            for name in SIZES:
                writer.append(name, *data[name][k])
            writer.append("A", np.empty(0), np.empty(0, dtype=np.int64))
            if k == 2:
                writer.flush()
    return writer


def test_round_trip_in_several_appends(tmp_path):
    data = batches(np.random.default_rng(0))
    write_all(tmp_path / "s.h5", data, buffer_spikes=100)  # also flushes automatically
    got = read_spikes(tmp_path / "s.h5")
    assert list(got) == list(SIZES)
    for name in SIZES:
        times, ids = got[name]
        assert times.dtype == np.float64 and ids.dtype == np.int64
        np.testing.assert_array_equal(times, np.concatenate([t for t, _ in data[name]]))
        np.testing.assert_array_equal(ids, np.concatenate([i for _, i in data[name]]))


def test_layout_datasets_and_attributes_follow_the_spec(tmp_path):
    write_all(tmp_path / "s.h5", batches(np.random.default_rng(1)))
    with h5py.File(tmp_path / "s.h5", "r") as f:
        assert f.attrs["magic"] == 0x0A7A and f.attrs["magic"].dtype == np.uint32
        assert list(f.attrs["version"]) == [0, 1]
        for name in SIZES:
            group = f["spikes"][name]
            sorting = group.attrs.get_id("sorting").dtype
            assert h5py.check_enum_dtype(sorting) == {"none": 0, "by_id": 1, "by_time": 2}
            assert group.attrs["sorting"] == 2  # by_time
            stamps, ids = group["timestamps"], group["node_ids"]
            assert stamps.dtype == np.float64 and ids.dtype == np.uint64
            assert stamps.attrs["units"] == "ms"
            assert stamps.maxshape == (None,) and stamps.chunks is not None
            assert ids.maxshape == (None,) and ids.chunks is not None
            assert np.all(np.diff(stamps[()]) >= 0)


def test_empty_population_round_trips(tmp_path):
    with SpikeWriter(tmp_path / "s.h5", {"E": 3, "I": 2}) as writer:
        writer.append("E", [1.0, 2.0], [0, 2])
    got = read_spikes(tmp_path / "s.h5")
    assert got["I"][0].size == 0 and got["I"][1].size == 0
    np.testing.assert_array_equal(got["E"][1], [0, 2])


@pytest.mark.parametrize(
    ("population", "times", "ids", "match"),
    [
        ("E", [5.0, 4.0], [0, 1], "nondecreasing"),
        ("E", [2.0], [0], "nondecreasing"),  # before the last written time, 3.0
        ("X", [9.0], [0], "unknown population"),
        ("E", [9.0], [3], r"\[0, 3\)"),
        ("E", [9.0, 10.0], [0], "node ids"),
        ("E", [9.0], [0.5], "integers"),
        ("E", [np.nan], [0], "finite"),
    ],
)
def test_append_rejects_bad_batches_and_keeps_working(tmp_path, population, times, ids, match):
    with SpikeWriter(tmp_path / "s.h5", {"E": 3}) as writer:
        writer.append("E", [1.0, 3.0], [0, 1])
        with pytest.raises(ValueError, match=match):
            writer.append(population, times, ids)
        writer.append("E", [3.0, 7.0], [2, 2])
    np.testing.assert_array_equal(read_spikes(tmp_path / "s.h5")["E"][0], [1.0, 3.0, 3.0, 7.0])


def test_writer_rejects_bad_populations_and_use_after_close(tmp_path):
    for populations in ({}, {"a/b": 3}, {"E": -1}, {"E": 2.5}):
        with pytest.raises(ValueError):
            SpikeWriter(tmp_path / "s.h5", populations)
    writer = SpikeWriter(tmp_path / "s.h5", {"E": 1})
    writer.close()
    writer.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        writer.append("E", [1.0], [0])


def test_error_inside_with_block_keeps_spikes_and_the_error(tmp_path):
    with pytest.raises(KeyError):
        with SpikeWriter(tmp_path / "s.h5", {"E": 2}) as writer:
            writer.append("E", [1.0, 2.0], [0, 1])
            raise KeyError("boom")
    assert writer.closed
    np.testing.assert_array_equal(read_spikes(tmp_path / "s.h5")["E"][0], [1.0, 2.0])


# --- crash safety: the writer dies without close() -------------------------------------------

CRASH_SCRIPT = """
import os, signal, sys
import numpy as np
from brainmac.io.sonata import SpikeWriter
path, how = sys.argv[1], sys.argv[2]
writer = SpikeWriter(path, {{"E": 10, "I": 4}}, buffer_spikes={buffer})
writer.append("E", np.arange(5.0), np.arange(5))
writer.append("I", [0.5, 2.5], [3, 0])
{after_first}
writer.append("E", [10.0, 11.0], [9, 9])  # never flushed: lost, but the file stays readable
if how == "exit":
    os._exit(0)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("how", ["exit", "sigkill"])
def test_file_is_readable_after_a_crash_following_flush(tmp_path, how):
    script = CRASH_SCRIPT.format(buffer=1 << 20, after_first="writer.flush()")
    path = tmp_path / "s.h5"
    done = subprocess.run([sys.executable, "-c", script, str(path), how], capture_output=True)
    assert done.returncode == (0 if how == "exit" else -9), done.stderr.decode()
    got = read_spikes(path)
    np.testing.assert_array_equal(got["E"][0], np.arange(5.0))
    np.testing.assert_array_equal(got["I"][1], [3, 0])


def test_automatic_flush_survives_a_crash(tmp_path):
    script = CRASH_SCRIPT.format(buffer=7, after_first="")  # 7 spikes appended: auto flush
    path = tmp_path / "s.h5"
    done = subprocess.run([sys.executable, "-c", script, str(path), "exit"], capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    got = read_spikes(path)
    assert got["E"][0].size == 5 and got["I"][0].size == 2


# --- full disk ---------------------------------------------------------------------------------


def test_full_disk_raises_oserror_naming_the_file_and_keeps_flushed_spikes(tmp_path, monkeypatch):
    path = tmp_path / "s.h5"
    writer = SpikeWriter(path, {"E": 3})
    writer.append("E", [1.0, 2.0], [0, 1])
    writer.flush()
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(sonata.shutil, "disk_usage", lambda _: usage(10**9, 10**9 - 1000, 1000))
    writer.append("E", [3.0], [2])
    with pytest.raises(OSError) as info:
        writer.flush()
    assert info.value.errno == errno.ENOSPC
    assert info.value.filename == str(path)
    assert "No space left on device" in info.value.strerror
    with pytest.raises(OSError):
        writer.close()  # the buffered spike still cannot be written
    assert writer.closed
    np.testing.assert_array_equal(read_spikes(path)["E"][0], [1.0, 2.0])


FSIZE_SCRIPT = """
import os, resource, signal, sys
import numpy as np
from brainmac.io.sonata import SpikeWriter
path = sys.argv[1]
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
writer = SpikeWriter(path, {"E": 100})
writer.append("E", np.arange(10.0), np.arange(10))
writer.flush()
resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(path) + (4 << 20), -1))
writer.append("E", np.linspace(10.0, 20.0, 1_000_000), np.zeros(1_000_000, dtype=np.int64))
try:
    writer.flush()
except OSError as err:
    print(err.errno, err.filename, err.strerror, sep="|")
try:
    writer.close()
except OSError:
    pass
"""


@pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX RLIMIT_FSIZE")
def test_real_file_size_limit_gives_oserror_not_a_crash(tmp_path):
    # An OS write limit, as a full disk: HDF5 must not see a failed write (h5py then
    # crashes at close, h5py issues #914/#1120), so the writer refuses first.
    path = tmp_path / "s.h5"
    done = subprocess.run(
        [sys.executable, "-c", FSIZE_SCRIPT, str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    code, filename, message = done.stdout.strip().split("|")
    assert int(code) == errno.EFBIG and filename == str(path)
    assert "File too large" in message
    np.testing.assert_array_equal(read_spikes(path)["E"][0], np.arange(10.0))


def test_unwritable_location_raises_oserror_naming_the_file(tmp_path):
    path = tmp_path / "missing" / "s.h5"
    with pytest.raises(OSError) as info:
        SpikeWriter(path, {"E": 1})
    assert info.value.filename == str(path)
    assert info.value.errno == errno.ENOENT


# --- reading files that are not SONATA spike files --------------------------------------------


def test_non_sonata_hdf5_file_gives_store_error_naming_it(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["data"] = np.arange(3)
    with pytest.raises(StoreError, match=r"other\.h5.*no /spikes group"):
        read_spikes(path)


def test_population_without_datasets_gives_store_error(tmp_path):
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        f.create_group("spikes/E")["timestamps"] = np.arange(3.0)
    with pytest.raises(StoreError, match=r"bad\.h5: /spikes/E"):
        read_spikes(path)
    with h5py.File(path, "w") as f:  # the old, population-less layout
        f["spikes/timestamps"] = np.arange(3.0)
        f["spikes/gids"] = np.arange(3)
    with pytest.raises(StoreError, match="not a population group"):
        read_spikes(path)


def test_text_file_and_missing_file(tmp_path):
    path = tmp_path / "spikes.h5"
    path.write_text("time id\n1.0 3\n")
    with pytest.raises(StoreError, match=r"spikes\.h5: not an HDF5 file"):
        read_spikes(path)
    with pytest.raises(FileNotFoundError):
        read_spikes(tmp_path / "nothing.h5")


def test_timestamps_in_seconds_are_read_as_ms(tmp_path):
    path = tmp_path / "s.h5"
    with h5py.File(path, "w") as f:
        f["spikes/E/timestamps"] = np.array([0.5, 1.25])
        f["spikes/E/timestamps"].attrs["units"] = "s"
        f["spikes/E/node_ids"] = np.array([1, 0], dtype=np.uint64)
    times, ids = read_spikes(path)["E"]
    np.testing.assert_array_equal(times, [500.0, 1250.0])
    np.testing.assert_array_equal(ids, [1, 0])
    with h5py.File(path, "a") as f:
        f["spikes/E/timestamps"].attrs["units"] = "furlongs"
    with pytest.raises(StoreError, match="units"):
        read_spikes(path)
