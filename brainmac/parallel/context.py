"""The MPI context of a run: whether we are an MPI rank, which one, and how failures end.

mpi4py is imported lazily, and only when an MPI launcher started this process (``mpiexec``,
``srun`` with PMI/PMIx): importing it initializes MPI, which a plain ``brainmac run`` must
not pay for.

Failures. Code between two collectives that raises on one rank would leave the others
waiting forever. :func:`abort_on_error` prints the failing rank's message and calls
``MPI_Abort``, which ends every rank of the job; :func:`agree_on_errors` is for the setup
phase (no collectives), where every rank reports its error and the job ends cleanly with
one message from rank 0.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from brainmac.errors import ConfigError

#: Environment variables a launcher sets in every rank: (name, whether it holds the size).
LAUNCHER_VARIABLES = (
    ("PMI_SIZE", True),  # MPICH / Hydra, Intel MPI
    ("OMPI_COMM_WORLD_SIZE", True),  # Open MPI
    ("MV2_COMM_WORLD_SIZE", True),  # MVAPICH
    ("PMIX_RANK", False),  # PMIx (Slurm srun --mpi=pmix, Open MPI 5)
    ("PMI_RANK", False),
)
MISSING_MPI = "MPI runs need: pip install brainmac[mpi]"
#: Test-only: the rank named here raises during the run (see :func:`injected_failure`).
FAIL_RANK_VARIABLE = "BRAINMAC_TEST_FAIL_RANK"
#: Seconds a failing rank waits between writing its message and ``MPI_Abort``: the launcher
#: (Hydra's proxy) forwards a rank's output only when it polls the pipe, and once the abort
#: reaches it first it kills the job without reading what was left (seen: the whole message
#: lost in 1 of 20 runs with no wait, on an idle 2-core VM).
ABORT_GRACE_S = 1.0

T = TypeVar("T")


@dataclass
class MPIContext:
    """This process's place in an MPI job.

    Attributes
    ----------
    comm : mpi4py.MPI.Intracomm
        The job's communicator (COMM_WORLD).
    rank, size : int
        This rank and the number of ranks.
    local_size : int
        Ranks on this node (they share its cores).
    """

    comm: Any
    rank: int
    size: int
    local_size: int

    @property
    def is_root(self) -> bool:
        return self.rank == 0


def launcher_size() -> int | None:
    """The rank count an MPI launcher announced in the environment (1 if it gave no size),
    or None when no launcher started this process."""
    for name, holds_size in LAUNCHER_VARIABLES:
        value = os.environ.get(name)
        if value is not None:
            return int(value) if holds_size and value.isdigit() else 1
    return None


def _import_mpi():
    try:
        import mpi4py
    except ImportError as err:
        raise ConfigError(MISSING_MPI) from err
    mpi4py.rc.thread_level = "funneled"  # only the main thread calls MPI
    from mpi4py import MPI

    return MPI


_CONTEXT: list[MPIContext | None] = []


def mpi_context() -> MPIContext | None:
    """The MPI context when this process is one of several MPI ranks, else None.

    Raises ConfigError when a launcher started several ranks but mpi4py is missing.
    """
    if _CONTEXT:
        return _CONTEXT[0]
    size = launcher_size()
    if size is None:
        _CONTEXT.append(None)
        return None
    try:
        mpi = _import_mpi()
    except ConfigError:
        if size > 1:
            raise
        _CONTEXT.append(None)
        return None
    comm = mpi.COMM_WORLD
    if comm.Get_size() == 1 and size > 1:
        raise ConfigError(f"the launcher started {size} ranks but MPI sees 1: mpi4py is built "
                          "against another MPI than the launcher's; use that MPI's mpiexec, "
                          "or rebuild mpi4py (docs/distributed.md)")
    context = None
    if comm.Get_size() > 1:
        local = comm.Split_type(mpi.COMM_TYPE_SHARED)
        context = MPIContext(comm, comm.Get_rank(), comm.Get_size(), local.Get_size())
        local.Free()
    _CONTEXT.append(context)
    return context


def is_root_process() -> bool:
    """False only on MPI ranks other than 0 (they print nothing)."""
    context = mpi_context()
    return context is None or context.is_root


def _report(context: MPIContext, err: BaseException) -> None:
    """The error (with its traceback unless it is the user's) in one write: the launcher
    may drop whatever a rank writes after its first chunk once ``MPI_Abort`` is called."""
    text = "" if isinstance(err, ConfigError | OSError) else "".join(
        traceback.format_exception(err))
    sys.stderr.write(f"{text}brainmac: error on MPI rank {context.rank} of {context.size}: "
                     f"{type(err).__name__}: {err}; aborting all ranks\n")
    sys.stderr.flush()


@contextmanager
def abort_on_error(context: MPIContext):
    """Run a block whose failure on one rank must end every rank (``MPI_Abort``), not hang."""
    try:
        yield
    except SystemExit:
        raise
    except BaseException as err:  # noqa: BLE001 - any failure must end the whole job
        _report(context, err)
        time.sleep(ABORT_GRACE_S)
        context.comm.Abort(1)
        os._exit(1)  # MPI_Abort may return before the launcher ends this process


def agree_on_errors(context: MPIContext, work: Callable[[], T]) -> T:
    """Run ``work`` (no collectives inside) on every rank, then agree on failures.

    If any rank failed, rank 0 raises (its own error, or a ConfigError quoting the first
    failing rank's) and the other ranks exit with status 2 without a message, so the job
    prints one line instead of one per rank.
    """
    try:
        result, error = work(), None
    except Exception as err:  # noqa: BLE001 - shared with the other ranks below
        result, error = None, err
        if not context.is_root and not isinstance(err, ConfigError | OSError):
            traceback.print_exception(err, file=sys.stderr)
    summary = None if error is None else f"{type(error).__name__}: {error}"
    summaries = context.comm.allgather(summary)
    failed = [(r, s) for r, s in enumerate(summaries) if s is not None]
    if not failed:
        return result
    if context.is_root:
        if error is not None:
            raise error
        rank, text = failed[0]
        raise ConfigError(f"on MPI rank {rank} of {context.size}: {text}")
    raise SystemExit(2)


def injected_failure(context: MPIContext, where: str) -> None:
    """Test-only: raise on the rank named by ``BRAINMAC_TEST_FAIL_RANK`` (e.g. ``1``)."""
    value = os.environ.get(FAIL_RANK_VARIABLE)
    if value is not None and value.strip() == str(context.rank):
        raise RuntimeError(f"failure injected on rank {context.rank} {where} "
                           f"({FAIL_RANK_VARIABLE}={value})")
