"""Process groups over MPI: ``init_process_group``, ranks and sizes, ``new_group``.

The job is launched by ``mpiexec`` (or ``mpirun``/``srun``), which also does the rendezvous, so MPI's
rank and size are authoritative; ``rank``/``world_size`` arguments and the ``RANK``/``WORLD_SIZE``
environment variables are checked against them.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta

default_pg_timeout = timedelta(minutes=30)
_LOCAL_RANK_ENV = ("LOCAL_RANK", "MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID")


class ProcessGroup:
    """A set of ranks sharing an MPI communicator (``comm`` is None on ranks outside the group)."""

    def __init__(self, comm, ranks: list[int], timeout_s: float):
        self.comm = comm
        self.ranks = ranks  # global ranks, in group-rank order
        self.timeout_s = timeout_s

    def rank(self) -> int:
        return self.comm.Get_rank() if self.comm is not None else -1

    def size(self) -> int:
        return len(self.ranks)

    def where(self) -> str:
        return f"rank {_state.world.rank()} of {_state.world.size()}" + (
            "" if self is _state.world else f" (group of ranks {self.ranks})")

    def __repr__(self) -> str:
        return f"<wgtorch.distributed.ProcessGroup ranks={self.ranks}>"


class _State:
    world: ProcessGroup | None = None
    local_rank: int = 0
    groups: list = []
    previous_excepthook = None


_state = _State()


def is_available() -> bool:
    return True


def is_mpi_available() -> bool:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


def is_nccl_available() -> bool:
    return False


def is_gloo_available() -> bool:
    return False


def is_initialized() -> bool:
    return _state.world is not None


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError:
        raise RuntimeError("wgtorch.distributed needs mpi4py and an MPI library: "
                           "pip install 'wgtorch[distributed]' (mpi4py and mpich)") from None
    return MPI


def _seconds(timeout) -> float:
    return timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)


def init_process_group(backend: str | None = None, init_method: str | None = None, timeout=None,
                       world_size: int = -1, rank: int = -1, store=None, group_name: str = "",
                       pg_options=None, device_id=None) -> None:
    """Join the MPI job as the default process group (``backend="mpi"``, the only one here).

    ``timeout`` (a ``timedelta`` or seconds; default 30 minutes as PyTorch) bounds every collective:
    one that does not finish in time raises ``RuntimeError``. An uncaught exception on any rank aborts
    the whole MPI job (``MPI_Abort``), so the others stop instead of waiting for it."""
    if _state.world is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    if backend not in (None, "mpi", "MPI"):
        raise ValueError(f"backend {backend!r} is not available in wgtorch: only 'mpi' is (launch with "
                         f"mpiexec -n N python script.py and pass backend='mpi')")
    if init_method not in (None, "env://"):
        raise ValueError(f"init_method {init_method!r} is not supported: mpiexec does the rendezvous; "
                         f"leave init_method None")
    if store is not None:
        raise ValueError("a store is not used by the MPI backend: mpiexec does the rendezvous")
    MPI = _mpi()
    comm = MPI.COMM_WORLD
    mpi_rank, mpi_size = comm.Get_rank(), comm.Get_size()
    for what, given, actual in (("rank", rank, mpi_rank), ("world_size", world_size, mpi_size),
                                ("RANK", os.environ.get("RANK"), mpi_rank),
                                ("WORLD_SIZE", os.environ.get("WORLD_SIZE"), mpi_size)):
        if given not in (None, -1, "") and int(given) != actual:
            raise ValueError(f"{what}={given} disagrees with MPI, which says rank {mpi_rank} of {mpi_size}")
    timeout_s = _seconds(default_pg_timeout if timeout is None else timeout)
    _state.world = ProcessGroup(comm.Dup(), list(range(mpi_size)), timeout_s)
    _state.groups = [_state.world]
    local = comm.Split_type(MPI.COMM_TYPE_SHARED, key=mpi_rank)
    _state.local_rank = local.Get_rank()
    local.Free()
    if mpi_size > 1 and _state.previous_excepthook is None:
        _state.previous_excepthook = sys.excepthook
        sys.excepthook = _abort_on_uncaught


def _abort_on_uncaught(kind, value, tb) -> None:
    """Print the error, then abort every rank: the others would wait for this one until timeout."""
    previous = _state.previous_excepthook or sys.__excepthook__
    previous(kind, value, tb)
    sys.stderr.flush()
    sys.stdout.flush()
    if _state.world is not None:
        _mpi().COMM_WORLD.Abort(1)


def _group(group) -> ProcessGroup:
    if _state.world is None:
        raise RuntimeError("Default process group has not been initialized, please make sure to call "
                           "init_process_group.")
    return _state.world if group is None else group


def get_rank(group=None) -> int:
    """This process's rank in ``group`` (the default group if None); -1 outside the group."""
    return _group(group).rank()


def get_world_size(group=None) -> int:
    return _group(group).size()


def get_local_rank() -> int:
    """The rank among processes on this machine (MPI's shared-memory split); before init, the
    launcher's environment (LOCAL_RANK, MPI_LOCALRANKID, OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID)."""
    if _state.world is not None:
        return _state.local_rank
    for name in _LOCAL_RANK_ENV:
        if os.environ.get(name, "") != "":
            return int(os.environ[name])
    raise RuntimeError("local rank unknown: call init_process_group first, or launch with mpiexec")


def get_node_local_rank(fallback_rank: int | None = None) -> int:
    """PyTorch's name: the local rank, or ``fallback_rank`` if it cannot be found."""
    try:
        return get_local_rank()
    except RuntimeError:
        if fallback_rank is None:
            raise
        return fallback_rank


def get_backend(group=None) -> str:
    _group(group)
    return "mpi"


def get_process_group_ranks(group) -> list[int]:
    return list(_group(group).ranks)


def get_global_rank(group, group_rank: int) -> int:
    return _group(group).ranks[group_rank]


def get_group_rank(group, global_rank: int) -> int:
    return _group(group).ranks.index(global_rank)


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, use_local_synchronization=False):
    """A group of the given global ranks (all ranks if None). Like PyTorch, every rank of the default
    group must call it, members or not; non-members get a group whose ``get_rank`` is -1."""
    world = _group(None)
    ranks = sorted(set(range(world.size()) if ranks is None else (int(r) for r in ranks)))
    if any(r < 0 or r >= world.size() for r in ranks):
        raise ValueError(f"new_group: ranks {ranks} outside 0..{world.size() - 1}")
    MPI = _mpi()
    me = world.rank()
    comm = world.comm.Split(0 if me in ranks else MPI.UNDEFINED, key=me)
    group = ProcessGroup(None if comm == MPI.COMM_NULL else comm, ranks,
                         world.timeout_s if timeout is None else _seconds(timeout))
    _state.groups.append(group)
    return group


def destroy_process_group(group=None) -> None:
    """Free ``group``'s communicator; with None, every group and the default one (init may be called
    again afterwards)."""
    targets = list(_state.groups) if group is None else [group]
    for g in targets:
        if g.comm is not None:
            g.comm.Free()
            g.comm = None
        if g in _state.groups:
            _state.groups.remove(g)
    if group is None or group is _state.world:
        _state.world = None
        _state.groups = []
        if _state.previous_excepthook is not None:
            sys.excepthook = _state.previous_excepthook
            _state.previous_excepthook = None
