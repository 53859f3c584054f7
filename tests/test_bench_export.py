"""`brainmac bench --export` writes a calibration the planner reads."""

import json

from brainmac.cli import main


def test_bench_export_feeds_the_planner(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert main(["bench", "--order", "50", "--duration", "50ms", "--threads", "1",
                 "--export", str(path)]) == 0
    data = json.loads(path.read_text())
    assert data["schema"] == "brainmac-bench/1"
    assert data["synaptic_events_per_s_per_core"] > 0 and data["bytes_per_synapse"] > 0
    capsys.readouterr()
    assert main(["plan", "microcircuit", "--calibrate", str(path), "--json"]) == 0
    assert "calibrat" in capsys.readouterr().out.lower()
