"""The benchmark tools' bookkeeping (no timing is asserted): the suite's table, the
regression check that flags slowdowns between two result files, and the pairwise summary
of an A/B of two trees."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import ab_trees  # noqa: E402
import regress  # noqa: E402
import suite  # noqa: E402


def _result(name: str, simulate_s: float, nest_s: float | None = None) -> dict:
    medians = {"brainmac": {"build_s": 10.0, "simulate_s": simulate_s, "rtf": simulate_s,
                            "peak_rss_bytes": 2**30, "bytes_per_synapse": 3.0}}
    if nest_s is not None:
        medians["nest"] = {"build_s": 20.0, "simulate_s": nest_s, "rtf": nest_s}
    return {"case": {"name": name, "group": "models"}, "nest_skipped": "", "medians": medians}


def _write(path: Path, results: list[dict]) -> Path:
    path.write_text(json.dumps({"tier": "quick", "results": results}))
    return path


def test_regress_flags_a_slowdown_over_the_threshold(tmp_path):
    base = _write(tmp_path / "a.json", [_result("x", 10.0), _result("y", 10.0)])
    new = _write(tmp_path / "b.json", [_result("x", 11.5), _result("y", 10.5)])
    assert regress.main([str(base), str(new)]) == 1
    rows, flagged = regress.compare(regress.load(base), regress.load(new), 0.10, False)
    assert flagged == 1
    assert any("| x | simulate |" in r and "SLOWER" in r for r in rows)
    assert not any("| y | simulate |" in r and "SLOWER" in r for r in rows)


def test_regress_normalized_by_nest_forgives_a_slower_machine(tmp_path):
    base = _write(tmp_path / "a.json", [_result("x", 10.0, nest_s=100.0)])
    new = _write(tmp_path / "b.json", [_result("x", 20.0, nest_s=200.0)])
    assert regress.main([str(base), str(new)]) == 1
    assert regress.main([str(base), str(new), "--normalize-by-nest"]) == 0


def test_regress_refuses_a_file_that_is_not_a_suite_result(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(SystemExit, match="not a benchmarks/suite.py result"):
        regress.main([str(bad), str(bad)])


def test_suite_cases_cover_the_issue_and_table_shows_ratio():
    names = [c.name for c in suite.cases("full")]
    assert len(names) == len(set(names))
    assert {"mc-dt0.1", "mc-dt1", "brunel", "random-1e4", "random-1e6",
            "brunel-t1", "brunel-t2"} <= set(names)
    text = suite.table([_result("x", 2.0, nest_s=30.0)])
    assert "15.0x" in text
    by_name = {c.name: c for c in suite.cases("full")}
    skipped = suite.nest_skip_reason(by_name["random-1e6"], 16.0, False)
    assert "GiB" in skipped  # 1e9 synapses do not fit NEST in 16 GiB


def test_ab_trees_summarizes_each_pair_ratio():
    runs = {"old": [{"rtf": 8.0}, {"rtf": 6.0}, {"rtf": 5.0}],
            "new": [{"rtf": 6.0}, {"rtf": 6.6}, {"rtf": 4.0}]}
    assert ab_trees.pair_summary(runs) == ("new/old RTF per pair 0.75 1.10 0.80; median 0.80; "
                                           "new faster in 2 of 3")
