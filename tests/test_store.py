"""The compiled store: round trip, streaming, atomicity, validation of damaged or crafted
stores (each case names the file; random corruptions never crash), and the CLI."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path

import numpy as np
import pytest
from conftest import small_exp_network
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brainmac import models
from brainmac.cli import main
from brainmac.compile import compile_network
from brainmac.compile.codes import decode_partition, target_at
from brainmac.compile.compiled import ARRAY_DOCS
from brainmac.compile.compiler import Compiler
from brainmac.engine import Simulator
from brainmac.errors import StoreError
from brainmac.store import FORMAT_VERSION, layout, open_store, read_manifest, write_store
from brainmac.store.npyio import HEADER_BYTES
from brainmac.store.reader import open_partitions

#: Neurons per partition: brunel order 50 (250 neurons, 25 synapses each) makes partitions
#: of 67, 66, 67 (E) and 50 (I) neurons, 0 and 2 with an odd synapse count (padded).
PART = 99
ROOT = Path(__file__).resolve().parents[1]


def brunel_small():
    return models.build("brunel", order=50)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "brunel.store"
    write_store(brunel_small(), path, partition_size=PART, threads=2)
    return path


@pytest.fixture
def copy(store, tmp_path):
    """A private copy of the store, to damage."""
    return Path(shutil.copytree(store, tmp_path / "copy.store"))


def spikes_of(compiled, ms=50.0):
    sim = Simulator(compiled, threads=1)
    sim.run(ms)
    return sim.spike_arrays()


# -- round trip ----------------------------------------------------------------------------
def test_layout_covers_every_compiled_array():
    assert set(layout.ARRAYS) == set(ARRAY_DOCS)


def test_kernels_see_one_type_for_store_and_memory(store):
    """numba compiles the whole step loop once per argument type (~30 s): a store's
    read-only maps and an in-memory network must reach the kernels with the same types."""
    from numba import typeof

    mem = Simulator(compile_network(brunel_small(), partition_size=PART))
    disk = Simulator(open_store(store))
    assert typeof(mem._net_tuple) == typeof(disk._net_tuple)


def test_store_equals_in_memory_compile(store):
    """A store holds the partition layout's arrays (``brainmac.compile.rows``)."""
    mem = compile_network(brunel_small(), partition_size=PART, layout="partition")
    disk = open_store(store, verify=True)
    assert set(disk.arrays) == set(mem.arrays)
    for name, values in mem.arrays.items():
        assert disk.arrays[name].dtype == values.dtype, name
        np.testing.assert_array_equal(disk.arrays[name], values, err_msg=name)
    assert not disk.arrays["s_index"].flags.writeable  # memory-mapped, read-only
    assert disk.manifest["quantization"] == mem.manifest["quantization"]


def test_partitions_are_padded_to_multiples_of_4_slots(store):
    """Each partition's slots are its synapses rounded up to a multiple of 4; the padding
    slots hold weight 0 and target 0; the manifest counts the real synapses."""
    net, manifest = open_store(store), read_manifest(store)
    counts = np.asarray(net.row_syn[:, -1], np.int64)
    assert (counts % 4 != 0).any(), "no partition is padded: choose another PART"
    slots = -(-counts // 4) * 4
    np.testing.assert_array_equal(net.syn_base, np.concatenate([[0], np.cumsum(slots)[:-1]]))
    assert net.s_value.size == slots.sum() and net.s_index.size == 7 * slots.sum() // 4
    for base, n, m in zip(net.syn_base, counts, slots, strict=True):
        for k in range(base + n, base + m):
            assert net.s_value[k] == 0 and target_at(net.s_index, k) == 0
    assert manifest["synapses"] == counts.sum() == 6250
    assert manifest["code_bytes"] == net.g_code.size


def test_every_store_is_format_4(tmp_path):
    """The plain grid and sub-steps alike: format 4 is the compact layout (14-bit targets)."""
    for bits in (0, 2):
        path = write_store(small_exp_network(), tmp_path / f"k{bits}", substep_bits=bits)
        assert read_manifest(path)["format_version"] == FORMAT_VERSION == 4


def _partition(net, p):
    """Partition p of ``net`` decoded into columns (pre, target, value, delay, gain)."""
    return decode_partition(net.g_code, net.grp_base[p], np.asarray(net.row_grp[p]),
                            np.asarray(net.row_syn[p]), net.syn_base[p], net.s_index,
                            net.s_value)


@pytest.mark.parametrize("owned", [(0, 1), (1, 3), (2, 4), (0, 4)])
def test_partial_open_maps_its_partitions_only(store, owned):
    """open_partitions maps the slots, target bytes and codes of its partitions, padding
    included, and they decode to the whole store's synapses of those partitions."""
    full, part = open_store(store), open_partitions(store, owned)
    first, stop = owned
    slots = [*full.syn_base, full.s_value.size]
    codes = [*full.grp_base, full.g_code.size]
    np.testing.assert_array_equal(part.s_value, full.s_value[slots[first]:slots[stop]])
    np.testing.assert_array_equal(part.s_index,
                                  full.s_index[7 * slots[first] // 4:7 * slots[stop] // 4])
    np.testing.assert_array_equal(part.g_code, full.g_code[codes[first]:codes[stop]])
    for p in range(full.n_partitions):
        got = _partition(part, p)
        want = _partition(full, p) if first <= p < stop else [c[:0] for c in got]
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("profile", ["seed", "float32"])
def test_run_from_store_is_identical(tmp_path, profile):
    net = small_exp_network()
    path = write_store(net, tmp_path / "s", profile=profile, partition_size=64)
    gid_a, step_a = spikes_of(open_store(path))
    gid_b, step_b = spikes_of(compile_network(net, profile, partition_size=64))
    assert gid_a.size > 0
    np.testing.assert_array_equal(gid_a, gid_b)
    np.testing.assert_array_equal(step_a, step_b)


def test_files_are_plain_npy(store):
    manifest = read_manifest(store)
    for entry in manifest["arrays"].values():
        loaded = np.load(store / entry["file"])
        assert loaded.shape == tuple(entry["shape"]) and loaded.dtype.str == entry["dtype"]
        assert (store / entry["file"]).read_bytes()[:HEADER_BYTES].endswith(b"\n")


def test_writer_holds_few_partitions_at_once(tmp_path, monkeypatch):
    """Streaming: at most ``threads`` + 1 built partitions are alive at any moment."""
    live, peak = set(), [0]
    original = Compiler.build_partition

    def tracked(self, p):
        part = original(self, p)
        live.add(p)
        peak[0] = max(peak[0], len(live))
        weakref.finalize(part, live.discard, p)
        return part

    monkeypatch.setattr(Compiler, "build_partition", tracked)
    write_store(brunel_small(), tmp_path / "s", partition_size=10, threads=2)
    assert read_manifest(tmp_path / "s")["partitions"] == 25
    assert peak[0] <= 3


# -- atomicity ------------------------------------------------------------------------------
def test_failed_compile_leaves_nothing(tmp_path):
    def stop(done, total):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_store(brunel_small(), tmp_path / "s", partition_size=PART, progress=stop)
    assert list(tmp_path.iterdir()) == []


def test_kill_during_compile_leaves_no_valid_store(tmp_path):
    target = tmp_path / "big.store"
    cmd = [sys.executable, "-m", "brainmac.cli", "compile", "brunel", "--scale", "0.2",
           "--partition-size", "4", "-o", str(target), "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    partial = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        found = list(tmp_path.glob(".big.store.partial-*/s_index.npy"))
        if found and found[0].stat().st_size > HEADER_BYTES:
            partial = found[0].parent
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert partial is not None, "the compile ended before it could be killed mid-way"
    assert not target.exists()
    with pytest.raises(StoreError, match="unfinished compile"):
        open_store(partial)
    # the next compile to the same target removes the leftover and succeeds
    write_store(brunel_small(), target, partition_size=PART)
    assert not partial.exists() and open_store(target).n_neurons == 250


def test_existing_target_needs_force(store, tmp_path):
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    assert main(["compile", "brunel", "--scale", "0.02", "-o", str(other), "--quiet",
                 "--force"]) == 2
    assert (other / "keep.txt").exists()
    target = tmp_path / "s"
    shutil.copytree(store, target)
    assert main(["compile", "brunel", "--scale", "0.02", "-o", str(target), "--quiet"]) == 2
    assert main(["compile", "brunel", "--scale", "0.04", "-o", str(target), "--quiet",
                 "--force"]) == 0
    assert read_manifest(target)["neurons"] == 500


# -- validation: each damage names its file --------------------------------------------------
def edit_manifest(path, change):
    manifest = json.loads((path / "manifest.json").read_text())
    change(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))


def poke(path, name, index, value):
    """Set one element of an array file in place (the header stays valid)."""
    data = np.load(path / f"{name}.npy", mmap_mode="r+")
    assert not np.array_equal(data[index], value), "the poke changes nothing"
    data[index] = value
    data.flush()
    del data


def set_target(path, slot, value):
    """Set the 14-bit target of synapse slot ``slot`` (of the whole store) in s_index.npy."""
    data = np.load(path / "s_index.npy", mmap_mode="r+")
    at, shift = 14 * slot // 8, 14 * slot % 8
    word = int(data[at]) | int(data[at + 1]) << 8 | int(data[at + 2]) << 16
    assert (word >> shift) & 0x3FFF != value, "the target is already that"
    word = word & ~(0x3FFF << shift) | value << shift
    data[at], data[at + 1], data[at + 2] = word & 0xFF, word >> 8 & 0xFF, word >> 16
    data.flush()
    del data


def last_slot(path, p, padding=False):
    """The last synapse slot of partition p (its padding slot if ``padding``)."""
    count = int(np.load(path / "row_syn.npy")[p, -1])
    return int(np.load(path / "syn_base.npy")[p]) + (count if padding else count - 1)


def damage_codes(path, kind, p=0):
    """Damage the codes of partition p's first non-empty row in g_code.npy. A Brunel row is
    one gain code (3 bytes) and group codes of one delay below 16 steps."""
    rows = np.load(path / "row_grp.npy")[p]
    j = int(np.flatnonzero(np.diff(rows))[0])
    base = int(np.load(path / "grp_base.npy")[p])
    c0, c1 = base + int(rows[j]), base + int(rows[j + 1])
    codes = np.load(path / "g_code.npy", mmap_mode="r+")
    group = c0 + 3
    assert codes[c0] == 0 and codes[group] & 15 and codes[group] >> 4, "not a Brunel row"
    if kind == "gain index past gain_value":
        n_gains = np.load(path / "gain_value.npy").size
        codes[c0 + 1], codes[c0 + 2] = n_gains & 0xFF, n_gains >> 8
    elif kind == "count":
        codes[group] = codes[group] & 0xF0 | codes[group] % 16 % 15 + 1
    elif kind == "no gain code first":
        codes[c0] = 0x11
    elif kind == "gain code cut off":
        codes[c1 - 1] = 0
    elif kind == "delay 0":
        codes[group] &= 0x0F
    elif kind == "delay past the ring":
        codes[group] = 0xF0  # a step of 2**18
    codes.flush()
    del codes


def test_truncated_file(copy):
    file = copy / "s_index.npy"
    file.write_bytes(file.read_bytes()[:-1])
    with pytest.raises(StoreError, match=r"s_index\.npy: file is truncated"):
        open_store(copy)


def test_flipped_byte_found_by_verify(copy):
    file = copy / "s_value.npy"
    data = bytearray(file.read_bytes())
    data[HEADER_BYTES + 7] ^= 0x01
    file.write_bytes(bytes(data))
    open_store(copy)  # a different weight is a valid store...
    with pytest.raises(StoreError, match=r"s_value\.npy: checksum mismatch"):
        open_store(copy, verify=True)  # ...that the checksum tells apart


def test_missing_array_file(copy):
    (copy / "g_code.npy").unlink()
    with pytest.raises(StoreError, match=r"g_code\.npy: array file is missing"):
        open_store(copy)


def test_array_missing_from_manifest(copy):
    edit_manifest(copy, lambda m: m["arrays"].pop("row_grp"))
    with pytest.raises(StoreError, match=r"manifest\.json: array row_grp is missing"):
        open_store(copy)


@pytest.mark.parametrize("version, layout", [(1, "in the group layout"),
                                             (2, "in the group layout"),
                                             (3, "with the 12-bit targets")])
def test_older_layout_store_is_refused_in_one_line(copy, capsys, version, layout):
    """Stores of formats 1-2 hold the group layout (g_delay, g_gain, g_count), format 3
    12-bit targets: one line that says to compile again, from the API and the CLI."""
    edit_manifest(copy, lambda m: m.update(format_version=version))
    text = (f"manifest.json: written {layout} of format {version}, which this "
            "brainmac no longer reads: compile the network again with `brainmac compile`")
    with pytest.raises(StoreError) as err:
        open_store(copy)
    assert str(err.value).endswith(text) and "\n" not in str(err.value)
    assert main(["info", str(copy)]) == 2
    out = capsys.readouterr().err.strip()
    assert text in out and "\n" not in out


def test_future_format_version(copy):
    edit_manifest(copy, lambda m: m.update(format_version=99))
    with pytest.raises(StoreError, match=r"manifest\.json: store format version 99 is newer"):
        open_store(copy)


@pytest.mark.parametrize("less,message", [
    (1, r"manifest\.json: array s_value has shape \(\d+,\), but partitions are padded to a "
        "multiple of 4"),
    (4, r"manifest\.json: array s_index has shape \(\d+,\), but the other arrays imply"),
])
def test_manifest_lying_about_a_shape(copy, less, message):
    def lie(m):
        m["arrays"]["s_value"]["shape"][0] -= less
    edit_manifest(copy, lie)
    with pytest.raises(StoreError, match=message):
        open_store(copy)


def test_manifest_lying_about_shapes_consistently(copy):
    """Shapes that agree with each other but not with the file headers."""
    def lie(m):
        m["arrays"]["s_value"]["shape"][0] -= 4
        m["arrays"]["s_index"]["shape"][0] -= 7
    n = read_manifest(copy)["arrays"]["s_index"]["shape"][0]
    edit_manifest(copy, lie)
    with pytest.raises(StoreError, match=rf"s_index\.npy: the manifest says dtype \|u1 shape "
                       rf"\({n - 7},\) but its header says dtype \|u1 shape \({n},\)"):
        open_store(copy)


def test_manifest_and_header_lying_together(copy):
    """A consistent lie (manifest and header) is caught by the file size."""
    def lie(m):
        m["arrays"]["s_value"]["shape"][0] += 8
        m["arrays"]["s_index"]["shape"][0] += 14
    edit_manifest(copy, lie)
    n = read_manifest(copy)["arrays"]["s_index"]["shape"][0]
    data = bytearray((copy / "s_index.npy").read_bytes())
    from brainmac.store.npyio import header_bytes
    data[:HEADER_BYTES] = header_bytes(np.dtype(np.uint8), (n,))
    (copy / "s_index.npy").write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"s_index\.npy: file is truncated"):
        open_store(copy)


def test_array_that_is_not_a_regular_file(copy):
    (copy / "s_value.npy").unlink()
    os.mkfifo(copy / "s_value.npy")  # opening it would block: refused before opening
    with pytest.raises(StoreError, match=r"s_value\.npy: not a regular file"):
        open_store(copy)


def test_manifest_dtype_mismatch(copy):
    edit_manifest(copy, lambda m: m["arrays"]["s_index"].update(dtype="<u4"))
    with pytest.raises(StoreError, match=r"array s_index: dtype '<u4'"):
        open_store(copy)


@pytest.mark.parametrize("name,index,value,message", [
    ("row_syn", (1, 40), 4_000_000_000, r"row_syn\.npy: row 1 must start at 0 and never"),
    ("row_syn", (3, -1), 100, r"row_syn\.npy: row 3 must start at 0 and never decrease"),
    ("row_syn", (3, -1), 1253, r"row_syn\.npy: row 3 points past the end"),  # 1 past padding
    ("row_syn", (3, -1), 1249, r"g_code\.npy: the codes of row \d+ of partition 3 count "
                               r"other synapses"),
    ("row_grp", (0, 0), 1, r"row_grp\.npy: row 0 must start at 0"),
    ("row_grp", (3, -1), 60_000, r"row_grp\.npy: row 3 points past the end"),
    ("syn_base", 1, 0, r"syn_base\.npy: entry 1 must be the running sum"),
    ("syn_base", 1, 1675, r"syn_base\.npy: entry 1 must be the running sum"),  # unpadded
    ("grp_base", 2, 0, r"grp_base\.npy: entry 2 must be the running sum"),
    ("gain_receptor", 0, 2, r"gain_receptor\.npy: entry 0 is 2"),
    ("drive_guide", (0, 63), 19, r"drive_guide\.npy: entries must lie in \[0, 19\)"),
    ("drive_cdf", (1, -1), 0.5, r"drive_cdf\.npy: every row must be a CDF"),
    ("drive_cdf", (0, 0), float("nan"), r"drive_cdf\.npy: every row must be a CDF"),
    ("drive_receptor", 0, -1, r"drive_receptor\.npy: entry 0 is -1"),
    ("drive_table", (0, 3), 1, r"drive_table\.npy: row p must be k times"),
    ("drive_window", (1, 0), -5, r"drive_window\.npy: every row must be steps"),
    ("model_code", 2, 7, r"model_code\.npy: entry 2 is 7"),
    ("ref_steps", 0, -1, r"ref_steps\.npy: refractory steps"),
    ("ref_steps", 1, 2**31, r"ref_steps\.npy: refractory steps must lie in \[0, 2\*\*31 - 1\]"),
    ("levels", (0, 1), 10**6, r"levels\.npy: the reset must lie below the threshold"),
    ("part_start", 1, 300, r"part_start\.npy: must rise from 0"),
    ("part_pop", 0, 5, r"part_pop\.npy: population index outside"),
])
def test_out_of_bounds_values(copy, name, index, value, message):
    poke(copy, name, index, value)
    with pytest.raises(StoreError, match=message):
        open_store(copy)


def test_a_partition_larger_than_14_bits_address():
    from brainmac.store.validate import check_partitions

    arrays = {"part_start": np.array([0, 16385]), "part_pop": np.array([0]),
              "v_init": np.zeros(16385)}
    with pytest.raises(StoreError, match=r"here/part_start\.npy: partition 0 holds 16385 "
                       "neurons, more than the 16384 that 14-bit targets address"):
        check_partitions(arrays, [{"start": 0, "size": 16385}], "here")


CODE_ROW = r"g_code\.npy: the codes of row \d+ of partition {p} \(bytes \d+ to \d+\) "


@pytest.mark.parametrize("kind,p,message", [
    ("gain index past gain_value", 0, CODE_ROW + "names a gain index outside gain_value"),
    ("gain index past gain_value", 3, CODE_ROW + "names a gain index outside gain_value"),
    ("count", 0, r"g_code\.npy: the codes of row \d+ of partition {p} count other synapses "
                 r"than its row pointers"),
    ("no gain code first", 1, CODE_ROW + "does not start with a gain code"),
    ("gain code cut off", 2, CODE_ROW + "ends inside a gain code"),
    ("delay 0", 0, CODE_ROW + "gives a delay below 1"),
    ("delay past the ring", 3, CODE_ROW + "gives a delay below 1 or above the largest"),
])
def test_damaged_group_codes(copy, kind, p, message):
    damage_codes(copy, kind, p)
    with pytest.raises(StoreError, match=message.format(p=p)):
        open_store(copy)


@pytest.mark.parametrize("where,value,message", [
    ("slot 5", 150, r"s_index\.npy: synapse slot 5 targets neuron 150, outside partition 0 "
                    r"\(size 67\)"),
    ("last", 4095, r"s_index\.npy: synapse slot \d+ targets neuron 4095, outside partition 3 "
                   r"\(size 50\)"),
    ("first of 1", 66, r"s_index\.npy: synapse slot 1676 targets neuron 66, outside "
                       r"partition 1 \(size 66\)"),
])
def test_target_outside_its_partition(copy, where, value, message):
    slot = {"slot 5": 5, "last": last_slot(copy, 3), "first of 1": 1676}[where]
    set_target(copy, slot, value)
    with pytest.raises(StoreError, match=message):
        open_store(copy)


def test_padding_slot_is_never_read(copy):
    """No row points to a partition's padding slot: its target is not checked (a changed
    one fails only ``verify``)."""
    set_target(copy, last_slot(copy, 0, padding=True), 4095)
    open_store(copy)
    with pytest.raises(StoreError, match=r"s_index\.npy: checksum mismatch"):
        open_store(copy, verify=True)


@pytest.mark.parametrize("damage,message", [
    (lambda p: (p / "manifest.json").write_text("{not json"), "not valid JSON"),
    (lambda p: (p / "manifest.json").unlink(), "is not a brainmac store"),
    (lambda p: edit_manifest(p, lambda m: m.update(format="other")), "not a brainmac store"),
    (lambda p: edit_manifest(p, lambda m: m.update(profile="int4")), "unknown profile"),
    (lambda p: edit_manifest(p, lambda m: m["arrays"]["s_index"].update(file="../x.npy")),
     "must name file"),
    (lambda p: edit_manifest(p, lambda m: m["model"]["populations"][0].update(size=7)),
     "populations hold|population 1 is malformed"),
])
def test_damaged_manifest(copy, damage, message):
    damage(copy)
    with pytest.raises(StoreError, match=message) as err:
        open_store(copy)
    assert "manifest.json" in str(err.value)


# -- random corruption never crashes ----------------------------------------------------------
def _corrupt(path: Path, file_index: int, region: str, position: int, values: list[int],
             truncate: bool) -> Path:
    """Overwrite bytes of one file (in its header, its data, or anywhere) or truncate it."""
    files = sorted(path.iterdir())
    file = files[file_index % len(files)]
    data = bytearray(file.read_bytes())
    first = HEADER_BYTES if region == "data" and file.suffix == ".npy" else 0
    span = HEADER_BYTES if region == "header" else len(data) - first
    at = first + position % max(min(span, len(data) - first), 1)
    if truncate:
        data = data[:at]
    else:
        data[at:at + len(values)] = bytes(values)[: max(len(data) - at, 0)]
    file.write_bytes(bytes(data))
    return file


FUZZ_EXAMPLES = int(os.environ.get("BRAINMAC_FUZZ_EXAMPLES", "250"))  # more for a deep run


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(file_index=st.integers(0, 100), region=st.sampled_from(["header", "data", "anywhere"]),
       position=st.integers(0, 1 << 20),
       values=st.lists(st.integers(0, 255), min_size=1, max_size=8), truncate=st.booleans())
def fuzz_corruptions(store: str, scratch: str, file_index, region, position, values, truncate):
    """Open (and, if it opens, run) a randomly damaged copy: a StoreError or a clean run;
    a changed array file that opens must then fail ``verify``."""
    copy = Path(scratch) / "copy"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(store, copy)
    file = _corrupt(copy, file_index, region, position, values, truncate)
    changed = file.read_bytes() != (Path(store) / file.name).read_bytes()
    try:
        compiled = open_store(copy)
    except StoreError as err:
        assert str(copy) in str(err)
        return
    Simulator(compiled, threads=1).run(2.0)
    if changed and file.suffix == ".npy":
        try:
            open_store(copy, verify=True)
        except StoreError as err:
            assert file.name in str(err)
        else:
            raise AssertionError(f"verify missed a change of {file.name}")


def test_random_corruptions_never_crash(store, tmp_path):
    """Run the fuzz loop in a child process, so that a crash would fail this test."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import test_store; "
            "test_store.fuzz_corruptions(sys.argv[2], sys.argv[3]); print('fuzz ok')")
    done = subprocess.run([sys.executable, "-c", code, str(ROOT / "tests"), str(store),
                           str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "fuzz ok" in done.stdout


# -- command line ---------------------------------------------------------------------------
def test_cli_compile_info_run(tmp_path, capsys):
    path = tmp_path / "b.store"
    assert main(["compile", "brunel", "--scale", "0.02", "-o", str(path), "--quiet"]) == 0
    assert main(["info", str(path), "--verify"]) == 0
    out = capsys.readouterr().out
    for text in ("format version 4", "synapses       6,250", "bytes/synapse", "E->I",
                 "poisson->E", "size on disk", "checksums and indices ok"):
        assert text in out, text
    assert main(["info", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["synapses"] == 6250
    common = ["--duration", "50ms", "--warmup", "0", "--quiet", "--threads", "1"]
    assert main(["run", str(path), "--out", str(tmp_path / "a"), *common]) == 0
    assert main(["run", "brunel", "--scale", "0.02", "--out", str(tmp_path / "b"),
                 *common]) == 0
    # the same network cut into partitions of at most 100 neurons: the same spikes
    assert main(["run", "brunel", "--scale", "0.02", "--out", str(tmp_path / "c"),
                 "--partition-size", "100", *common]) == 0
    from brainmac.io import read_spikes
    a, b = read_spikes(tmp_path / "a" / "spikes.h5"), read_spikes(tmp_path / "b" / "spikes.h5")
    c = read_spikes(tmp_path / "c" / "spikes.h5")
    for name in ("E", "I"):
        for other in (b, c):
            np.testing.assert_array_equal(a[name][0], other[name][0])
            np.testing.assert_array_equal(a[name][1], other[name][1])
    reports = [json.loads((tmp_path / d / "report.json").read_text()) for d in "bc"]
    # E (200 neurons) and I (50) are partitioned apart: 200 + 50, or 100 + 100 + 50
    assert [r["partitions"] for r in reports] == [2, 3]


def test_cli_compiles_a_network_file(tmp_path):
    file = tmp_path / "net.py"
    file.write_text(f"import sys\nsys.path.insert(0, {str(ROOT / 'tests')!r})\n"
                    "from conftest import small_exp_network\n\n\ndef network():\n"
                    "    return small_exp_network()\n")
    assert main(["compile", str(file), "-o", str(tmp_path / "s"), "--quiet"]) == 0
    mem = compile_network(small_exp_network(), layout="partition")  # a store's layout
    disk = open_store(tmp_path / "s")
    for name, values in mem.arrays.items():
        np.testing.assert_array_equal(disk.arrays[name], values, err_msg=name)


@pytest.mark.parametrize("argv,text", [
    (["compile", "hopfield", "-o", "{tmp}/s", "--quiet"], "unknown model 'hopfield'"),
    (["compile", "{tmp}/none.py", "-o", "{tmp}/s", "--quiet"], "does not exist"),
    (["compile", "{tmp}/empty.py", "-o", "{tmp}/s", "--quiet"], "defines no function"),
    (["info", "{tmp}"], "is not a brainmac store"),
    (["info", "{bad}", "--verify"], "s_index.npy: checksum mismatch"),
    (["run", "{bad}", "--out", "{tmp}/o", "--quiet"],
     "s_index.npy: synapse slot 5 targets neuron 999"),
    (["run", "{store}", "--dt", "1.0", "--out", "{tmp}/o", "--quiet"],
     "compiled with --dt 0.1"),
    (["run", "{store}", "--partition-size", "64", "--out", "{tmp}/o", "--quiet"],
     "keeps the partitions it was compiled with"),
    (["run", "{store}", "--row-layout", "neuron", "--out", "{tmp}/o", "--quiet"],
     "holds its rows in the partition layout"),
])
def test_cli_errors_exit_2_with_one_line(store, tmp_path, capsys, argv, text):
    (tmp_path / "empty.py").write_text("x = 1\n")
    bad = Path(shutil.copytree(store, tmp_path / "bad"))
    set_target(bad, 5, 999)
    assert main([a.format(tmp=tmp_path, store=store, bad=bad) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert text in err and "\n" not in err and "Traceback" not in err, err
