"""Checkpoint and resume: a run killed with SIGKILL and resumed writes exactly the spikes of
an uninterrupted run; damaged checkpoints are refused with the file named."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from brainmac.cli import main
from brainmac.io import read_spikes
from brainmac.models import build
from brainmac.store import write_store
from brainmac.store.checkpoint import CHECKPOINT_DIR, INDEX, segments

ROOT = Path(__file__).resolve().parents[1]
RUN = ["--scale", "0.02", "--warmup", "0", "--quiet", "--threads", "1"]  # 250 neurons


def assert_same_spikes(a: Path, b: Path) -> None:
    first, second = read_spikes(a / "spikes.h5"), read_spikes(b / "spikes.h5")
    assert set(first) == set(second)
    for name in first:
        assert first[name][0].size > 0
        np.testing.assert_array_equal(first[name][0], second[name][0], err_msg=name)
        np.testing.assert_array_equal(first[name][1], second[name][1], err_msg=name)


def checkpoint_step(out: Path) -> int:
    try:
        return json.loads((out / CHECKPOINT_DIR / INDEX).read_text())["step"]
    except (FileNotFoundError, ValueError, KeyError):
        return -1


def test_segments_end_on_checkpoints():
    assert segments(0, 10, 4) == [4, 4, 2]
    assert segments(5, 10, 4) == [3, 2]
    assert segments(10, 10, 4) == []


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "out"
    assert main(["run", "brunel", *RUN, "--duration", "4s", "--out", str(out)]) == 0
    return out


def test_sigkill_then_resume_is_bit_identical(uninterrupted, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "brainmac.cli", "run", "brunel", *RUN, "--duration", "4s",
           "--checkpoint-every", "100ms", "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while proc.poll() is None and checkpoint_step(out) < 3000 and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(0.03)  # land between two checkpoints
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    step = checkpoint_step(out)
    assert 3000 <= step < 40_000
    before = read_spikes(out / "spikes.h5")  # readable after the kill...
    counted = json.loads((out / CHECKPOINT_DIR / INDEX).read_text())["spikes_written"]
    assert all(before[name][0].size >= n for name, n in counted.items())  # ...to the checkpoint
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    assert_same_spikes(out, uninterrupted)
    resumed = json.loads((out / "report.json").read_text())
    whole = json.loads((uninterrupted / "report.json").read_text())
    assert resumed["spikes"] == whole["spikes"]
    assert resumed["synaptic_events"] == whole["synaptic_events"]
    assert resumed["populations"] == whole["populations"]


def test_resume_drops_spikes_written_after_the_checkpoint(tmp_path):
    """A finished run resumed from its last checkpoint rewrites the tail identically."""
    store = write_store(build("brunel", order=50), tmp_path / "s", partition_size=100)
    out = tmp_path / "o"
    args = ["--warmup", "0", "--quiet", "--threads", "1", "--duration", "300ms"]
    assert main(["run", str(store), *args, "--checkpoint-every", "120ms", "--out", str(out)]) == 0
    assert main(["run", str(store), *args, "--out", str(tmp_path / "whole")]) == 0
    assert checkpoint_step(out) == 2400
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    assert_same_spikes(out, tmp_path / "whole")


@pytest.fixture
def finished(tmp_path):
    out = tmp_path / "o"
    assert main(["run", "brunel", *RUN, "--duration", "100ms", "--checkpoint-every", "50ms",
                 "--out", str(out)]) == 0
    return out


def resume_error(capsys, out) -> str:
    assert main(["run", "--resume", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def test_no_checkpoint(tmp_path, capsys):
    assert "holds no checkpoint" in resume_error(capsys, tmp_path)


def test_damaged_state_file(finished, capsys):
    state = next((finished / CHECKPOINT_DIR).glob("state-*.npz"))
    state.write_bytes(state.read_bytes()[:100])
    assert f"{state.name}: not a readable checkpoint state" in resume_error(capsys, finished)


def test_damaged_index(finished, capsys):
    (finished / CHECKPOINT_DIR / INDEX).write_text('{"format": "brainmac-checkpoint"}')
    assert "not a brainmac checkpoint index" in resume_error(capsys, finished)


def test_spike_file_shorter_than_checkpoint(finished, capsys):
    index = json.loads((finished / CHECKPOINT_DIR / INDEX).read_text())
    index["spikes_written"]["E"] += 10**6
    (finished / CHECKPOINT_DIR / INDEX).write_text(json.dumps(index))
    assert "spikes.h5: population E holds" in resume_error(capsys, finished)


def test_store_changed_since_checkpoint(tmp_path, capsys):
    store = write_store(build("brunel", order=50), tmp_path / "s")
    out = tmp_path / "o"
    assert main(["run", str(store), "--warmup", "0", "--duration", "100ms", "--quiet",
                 "--checkpoint-every", "50ms", "--out", str(out)]) == 0
    shutil.rmtree(store)
    write_store(build("brunel", order=60), store)
    assert "written for another network" in resume_error(capsys, out)


def test_checkpoint_interval_must_be_a_multiple_of_dt(tmp_path, capsys):
    assert main(["run", "brunel", *RUN, "--duration", "100ms", "--checkpoint-every",
                 "0.05ms", "--out", str(tmp_path / "o")]) == 2
    assert "--checkpoint-every 0.05 ms is not a multiple of dt" in capsys.readouterr().err
