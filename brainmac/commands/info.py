"""``brainmac info``: what a store holds, and with ``--verify`` whether it is intact.

Without ``--verify`` it reads the manifest and checks every file's header and size (cheap);
with it, it also compares every checksum and runs the index checks of ``open_store`` (reads
the whole store once).
"""

from __future__ import annotations

import argparse
import time


def register(sub) -> None:
    """Add the ``info`` subcommand (argparse only)."""
    p = sub.add_parser(
        "info", help="describe a compiled store (and verify it)",
        description="Populations, projections, synapse count, size on disk, bytes per "
        "synapse, quantization report and format version of a store.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("store", metavar="STORE", help="store directory (brainmac compile -o)")
    p.add_argument("--verify", action="store_true",
                   help="check every checksum and index (reads the whole store)")
    p.add_argument("--json", action="store_true", help="print the manifest's summary as JSON")


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return ""


def disk_usage(path) -> tuple[int, int, int]:
    """(files, bytes, bytes allocated on disk) of a store directory."""
    from pathlib import Path

    files = [f for f in Path(path).iterdir() if f.is_file()]
    return (len(files), sum(f.stat().st_size for f in files),
            sum(f.stat().st_blocks * 512 for f in files))


def summary(path, manifest: dict) -> dict:
    """The figures ``info`` prints, as a dict."""
    import numpy as np

    from brainmac.store import layout

    n_files, size, allocated = disk_usage(path)
    n_syn = max(manifest["synapses"], 1)
    per_array = {name: int(np.prod(e["shape"])) * np.dtype(e["dtype"]).itemsize / n_syn
                 for name, e in manifest["arrays"].items() if name in layout.SYNAPSE_DATA}
    model = manifest["model"]
    return {"store": str(path), "format_version": manifest["format_version"],
            "brainmac_version": manifest.get("brainmac_version"), "network": model["network"],
            "profile": manifest["profile"], "dt_ms": manifest["dt_ms"],
            "seed": manifest["seed"], "neurons": manifest["neurons"],
            "synapses": manifest["synapses"], "groups": manifest["groups"],
            "partitions": manifest["partitions"], "files": n_files, "size_bytes": size,
            "allocated_bytes": allocated, "bytes_per_synapse": manifest["bytes_per_synapse"],
            "bytes_per_synapse_by_array": per_array,
            "store_bytes_per_synapse": size / n_syn, "populations": model["populations"],
            "projections": model["projections"], "quantization": model["quantization"],
            "drives": model["drives"]}


def _print(s: dict) -> None:
    print(f"store          {s['store']}  (format version {s['format_version']}, written by "
          f"brainmac {s['brainmac_version']})")
    print(f"network        {s['network']}   profile {s['profile']}   dt {s['dt_ms']} ms   "
          f"seed {s['seed']}")
    print(f"neurons        {s['neurons']:,} in {s['partitions']:,} partitions")
    print(f"synapses       {s['synapses']:,} in {s['groups']:,} groups")
    print(f"size on disk   {_size(s['size_bytes'])} in {s['files']} files "
          f"({_size(s['allocated_bytes'])} allocated)")
    parts = ", ".join(f"{k} {v:.2f}" for k, v in s["bytes_per_synapse_by_array"].items())
    print(f"bytes/synapse  {s['bytes_per_synapse']:.2f} synapse data ({parts}); "
          f"{s['store_bytes_per_synapse']:.2f} whole store")
    print("populations")
    for p in s["populations"]:
        print(f"  {p['name']:<12} {p['model']:<10} {p['size']:>12,} neurons  first id "
              f"{p['start']:,}")
    print("projections")
    for p in s["projections"]:
        print(f"  {p['label']:<24} {p['synapses']:>14,} synapses")
    print("quantization   (relative weight error per projection and receptor)")
    for q in s["quantization"]:
        print(f"  {q['projection']:<24} {q.get('receptor', ''):<6} {q['synapses']:>12,}  "
              f"gain 2^{q.get('gain_exponent')}  step {q.get('weight_step', 0):.4g}  mean "
              f"{q['mean_rel_error']:.2%}  max {q['max_rel_error']:.2%}  clipped "
              f"{q['clipped']:,}")
    for d in s["drives"]:
        print(f"  {d.get('drive', '?'):<24} weight {d.get('weight')} -> "
              f"{d.get('quantized_weight')} (rel. error {d.get('rel_error', 0):.2%})")


def main(args) -> int:
    import json

    import numpy as np

    from brainmac.store import open_store, read_manifest
    from brainmac.store.npyio import map_array

    manifest = read_manifest(args.store)
    for entry in manifest["arrays"].values():  # header and size of every file
        map_array(f"{args.store}/{entry['file']}", np.dtype(entry["dtype"]),
                  tuple(entry["shape"]))
    s = summary(args.store, manifest)
    if args.verify:
        start = time.perf_counter()
        open_store(args.store, verify=True)
        s["verified"] = {"ok": True, "seconds": time.perf_counter() - start}
    if args.json:
        print(json.dumps(s, indent=1, default=str))
        return 0
    _print(s)
    if args.verify:
        print(f"verified       checksums and indices ok ({s['verified']['seconds']:.2f} s)")
    else:
        print("verified       headers and sizes only (--verify checks checksums and indices)")
    return 0
