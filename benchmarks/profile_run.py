"""Where a run's time goes, kernel by kernel: perf's clock samples on numba's machine code.

Usage::

    python benchmarks/profile_run.py --model microcircuit --scale 1 --threads 2 \\
        --duration 500 --warmup 100

Compiles the network, runs the warm-up, then samples this process with ``perf record -e
cpu-clock`` (a software clock: it works on virtual machines without hardware counters)
while the measured window runs. numba's code is generated at run time, so perf cannot name
it; before exiting this script writes ``/tmp/perf-<pid>.map`` (perf's map of JIT code) with
the start of every function numba compiled in this process, and prints the share of
samples per kernel. A function's extent is taken to reach the next known start (at most
1 MB): code numba does not export is counted with the function before it.

Needs ``perf`` (Debian: ``apt install linux-perf``) and the permission to attach to this
process (root, or ``kernel.perf_event_paranoid`` <= 1). ``--keep DIR`` keeps perf.data and
the map there, for ``perf report -i DIR/perf.data``. ``--annotate KERNEL`` also prints the
instructions of that kernel that took the most samples (its machine code is copied out of
this process and disassembled with ``objdump``), with the instructions before each: a
sample lands on the instruction after the one that stalled.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from networks import add_network_args, add_run_args, network_from_args  # noqa: E402

from brainmac.compile import compile_network  # noqa: E402
from brainmac.engine import Simulator  # noqa: E402

SAMPLE_HZ = 2000
MAX_EXTENT = 1 << 20  # bytes a function may reach when the next start is farther


def kernel_name(symbol: str) -> str:
    """A readable name for a numba symbol: the function's own name (the last component of
    its mangled path), marked for the wrappers numba adds and for parallel regions."""
    if "numba_parfor_gufunc" in symbol:
        return "(parallel region)"
    wrapper = symbol.startswith(("_ZN7cpython", "cfunc."))
    body = symbol.removeprefix("cfunc.").removeprefix("_ZN")
    parts, i = [], 0
    while i < len(body) and body[i].isdigit():
        digits = re.match(r"\d+", body[i:]).group()
        i += len(digits)
        parts.append(body[i: i + int(digits)])
        i += int(digits)
    name = parts[-1] if parts else symbol
    return f"{name} (wrapper)" if wrapper else name


def numba_functions() -> list[tuple[int, str]]:
    """(address, symbol) of every function numba compiled or loaded in this process."""
    from numba.core.dispatcher import Dispatcher

    found, seen = set(), set()
    for obj in gc.get_objects():
        if not isinstance(obj, Dispatcher):
            continue
        for cres in list(obj.overloads.values()):
            library = cres.library
            if id(library) in seen:
                continue
            seen.add(id(library))
            names = {cres.fndesc.llvm_func_name}
            for module in (getattr(library, "_final_module", None),
                           getattr(library, "_shared_module", None)):
                if module is not None:
                    names.update(f.name for f in module.functions if not f.is_declaration)
            for name in names:
                address = library.get_pointer_to_function(name)
                if address:
                    found.add((address, name))
    return sorted(found)


def write_perf_map(functions: list[tuple[int, str]], path: Path) -> None:
    """perf's JIT map: one ``START SIZE NAME`` line (hex) per function."""
    with path.open("w") as out:
        for k, (start, name) in enumerate(functions):
            end = functions[k + 1][0] if k + 1 < len(functions) else start + MAX_EXTENT
            out.write(f"{start:x} {min(end - start, MAX_EXTENT):x} {kernel_name(name)}\n")


def shares(perf_data: Path) -> Counter:
    """Samples per symbol (perf's own names for shared objects and the kernel)."""
    text = subprocess.run(["perf", "report", "-i", str(perf_data), "--stdio", "--sort", "sym",
                           "-F", "sample,sym", "--percent-limit", "0"],
                          capture_output=True, text=True, check=True).stdout
    counts = Counter()
    for line in text.splitlines():
        match = re.match(r"\s*(\d+)\s+\[(.)\]\s+(.*\S)", line)
        if match:
            counts[match.group(3)] += int(match.group(1))
    return counts


def mapping_end(address: int) -> int:
    """The end of this process's memory mapping that holds ``address`` (the code copied
    out must not run past it)."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        first, stop = (int(x, 16) for x in line.split()[0].split("-"))
        if first <= address < stop:
            return stop
    return address


def hot_instructions(perf_data: Path, functions: list[tuple[int, str]], kernel: str,
                     top: int, context: int = 3) -> str:
    """The ``top`` instructions of ``kernel`` with the most samples, each after its
    ``context`` predecessors: (samples, address, instruction) lines from objdump."""
    starts = [(start, kernel_name(name)) for start, name in functions]
    spans = [(start, (starts[k + 1][0] if k + 1 < len(starts) else start + MAX_EXTENT))
             for k, (start, name) in enumerate(starts) if name == kernel]
    if not spans:
        return f"no kernel named {kernel!r} was compiled in this process"
    start, stop = max(spans, key=lambda span: span[1] - span[0])
    stop = min(stop, start + MAX_EXTENT, mapping_end(start))
    ips = subprocess.run(["perf", "script", "-i", str(perf_data), "-F", "ip"],
                         capture_output=True, text=True, check=True).stdout.split()
    hits = Counter(ip for ip in (int(x, 16) for x in ips) if start <= ip < stop)
    code = perf_data.parent / f"{kernel}.bin"
    code.write_bytes(ctypes.string_at(start, stop - start))
    listing = subprocess.run(["objdump", "-D", "-b", "binary", "-m", "i386:x86-64",
                              f"--adjust-vma={start:#x}", str(code)],
                             capture_output=True, text=True, check=True).stdout
    lines = [(int(m.group(1), 16), m.group(2).strip()) for m in
             (re.match(r"\s*([0-9a-f]+):\s+(?:[0-9a-f]{2} )+\s*(.*)", line)
              for line in listing.splitlines()) if m]
    index = {address: k for k, (address, _) in enumerate(lines)}
    out = [f"{kernel}: {sum(hits.values())} samples in {stop - start} bytes"]
    for ip, n in hits.most_common(top):
        k = index.get(ip)
        if k is None:
            continue
        out.append(f"--- {n} samples ({100 * n / sum(hits.values()):.1f} %)")
        for address, text in lines[max(k - context, 0): k + 1]:
            out.append(f"  {address - start:#7x}  {text}")
    return "\n".join(out)


def profile(args) -> Counter:
    """Run the measured window under perf; returns samples per kernel."""
    compiled = compile_network(network_from_args(args), args.precision, args.dt, args.seed,
                               threads=args.threads)
    sim = Simulator(compiled, threads=args.threads)
    sim.compile_kernels()
    sim.run(args.warmup)
    workdir = Path(args.keep) if args.keep else Path(f"/tmp/brainmac-profile-{os.getpid()}")
    workdir.mkdir(parents=True, exist_ok=True)
    perf_data = workdir / "perf.data"
    perf = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", str(SAMPLE_HZ),
                             "-p", str(os.getpid()), "-o", str(perf_data)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # perf attaches to every thread before the window starts
    if perf.poll() is not None:
        sys.exit(f"perf record failed: {perf.stderr.read().strip()}")
    wall0, events0 = sim.stats.wall_s, sim.stats.events
    sim.run(args.duration)
    wall, events = sim.stats.wall_s - wall0, sim.stats.events - events0
    perf.send_signal(signal.SIGINT)
    perf.wait()
    functions = numba_functions()
    write_perf_map(functions, Path(f"/tmp/perf-{os.getpid()}.map"))
    if args.keep:
        shutil.copy(f"/tmp/perf-{os.getpid()}.map", workdir)
    print(f"RTF {wall / args.duration * 1e3:.2f}, {events / wall:.3g} events/s, "
          f"{compiled.n_neurons} neurons, {args.threads} thread(s)")
    counts = shares(perf_data)
    if args.annotate:
        print(hot_instructions(perf_data, functions, args.annotate, args.top))
    if not args.keep:
        shutil.rmtree(workdir)
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_network_args(parser)
    add_run_args(parser)
    parser.add_argument("--precision", default="seed")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--top", type=int, default=15, help="kernels to list")
    parser.add_argument("--keep", default=None, help="keep perf.data and the map in DIR")
    parser.add_argument("--annotate", default=None, metavar="KERNEL",
                        help="also list KERNEL's instructions with the most samples")
    args = parser.parse_args(argv)
    if shutil.which("perf") is None:
        sys.exit("profile_run.py needs perf (Debian: apt install linux-perf)")
    counts = profile(args)
    total = sum(counts.values())
    print(f"{'share':>6}  {'samples':>8}  kernel ({total} samples at {SAMPLE_HZ} Hz)")
    for name, n in counts.most_common(args.top):
        print(f"{100 * n / total:5.1f}%  {n:8d}  {name}")


if __name__ == "__main__":
    main()
