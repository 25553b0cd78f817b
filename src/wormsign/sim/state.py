"""The kernel's state as a few records of arrays, so that a phase takes a handful of arguments.

Each record is a ``NamedTuple`` (numba reads it as a tuple of arrays). :class:`World` holds them
all; :class:`Run` (a numba structref, made by the kernel) holds the world and the event heaps,
so a phase takes one pointer where the world itself would be passed as some 600 machine words.
A phase of :mod:`wormsign.sim.kernel` reads the world through a borrowed reference
(:func:`wormsign.sim._jit.borrow`, no reference counting), unpacks the fields it needs into
locals at its top, and its loops only touch those locals. Helpers called per host
(``pool_remove``, ``heap_push``, ``list_add``...) take plain arrays.

Scalars that several phases change live in small arrays (``Tally.totals``); the event heaps
grow, so the run owns them and replaces them when full (``run.hq``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import numpy.typing as npt
from numba.core import types
from numba.experimental import structref

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]

# Tally.totals
N_SUS, N_EVER, N_REM = 0, 1, 2


class Pool(NamedTuple):
    """A grouped pool of susceptible hosts (:func:`wormsign.sim.pools.build_pool`)."""

    mem: I64
    pos: I64
    start: I64
    cnt: I64


class Pools(NamedTuple):
    """The pools by side of the filtered block, by prefix-1 group and side, by prefix-2 group
    and side (the last two only under local preference)."""

    side: Pool
    one: Pool
    two: Pool


class IndexList(NamedTuple):
    """An unordered set of indices: ``items[:n[0]]``, ``pos`` maps a member to its slot."""

    items: I64
    pos: I64
    n: I64


class Params(NamedTuple):
    """The scenario's numbers and schedules (read only)."""

    pf: F64  # float parameters, indexed by codes.P_*
    pi: I64  # integer parameters, indexed by codes.Q_*
    allow: F64  # 2 x 2 allowed probes between the sides of the filtered block
    thr: F64  # hosts ever infected for 10/50/90 %
    sched_t: F64  # patch, removal, reboot rate schedules: times, values, lengths
    sched_v: F64
    sched_n: I64
    cal_t: F64  # calendar: when the phase changes, and to what
    cal_ph: I64


class Hosts(NamedTuple):
    """Per host: where it is, how fast it scans, its infection state; the infected hosts."""

    side: I64
    g1: I64
    g2: I64
    rate: F64
    init_ids: I64
    state: U8
    ever: U8
    black: U8
    epoch: I64  # infection episodes
    infected: IndexList


class Scanners(NamedTuple):
    """Who scans, and the aggregate probe rates of the random scanners."""

    scanning: U8
    sepoch: I64  # scanning spells
    randomer: U8
    walker: U8
    scan: IndexList
    agg: F64  # effective per side (0, 1), and sent (codes.A_SENT)
    rate1: F64  # per prefix-1 group and side
    rate2: F64
    cnt1: I64  # random scanners per prefix-1 group
    cnt2: I64
    act1: IndexList  # prefix-1 groups holding a random scanner
    act2: IndexList


class Walkers(NamedTuple):
    """The walkers' order (sorted positions, the host at each, each host's own position,
    buckets) and each walker's place in it."""

    seq_sorted: I64
    seq_order: I64
    seq_own: I64
    seq_bucket: I64
    pos: F64  # unwrapped position
    ptr: I64  # next index in seq_sorted
    wrap: I64  # laps of the space
    v: F64  # virtual time at which the walker stood at pos
    acc: F64  # position up to which telescope hits were counted


class HitList(NamedTuple):
    """The hit list and each holder's share ``hosts[lo:hi]``."""

    hosts: I64
    lo: I64
    hi: I64
    budget: F64
    holders: IndexList


class Telescopes(NamedTuple):
    """Per telescope: each host's chance per probe, its range, who it has seen."""

    q: F64
    lo: I64
    hi: I64
    seen: U8
    qsum: F64  # probe rate of the scanning hosts already seen
    unique: I64


class Tally(NamedTuple):
    """Counters and scratch space."""

    totals: I64  # N_SUS, N_EVER, N_REM
    newly: I64  # hosts infected (or due) in this step
    picked: I64
    finished: I64
    bin_tel: F64  # telescope probes in this bin


class World(NamedTuple):
    """Everything but the event heaps."""

    p: Params
    hs: Hosts
    sc: Scanners
    wk: Walkers
    hl: HitList
    tel: Telescopes
    pools: Pools
    tally: Tally


class Heaps(NamedTuple):
    """Timed events (end of delay, blacklisting, telescope, wake-up) and the walkers'
    next vulnerable crossings, as binary heaps (:mod:`wormsign.sim.heap`)."""

    ev: F64
    n_ev: I64
    walk: F64
    n_walk: I64


def index_list(n: int) -> IndexList:
    """An empty index list for indices below ``n``."""
    return IndexList(np.empty(max(n, 1), np.int64), np.full(max(n, 1), -1, np.int64),
                     np.zeros(1, np.int64))


def new_heaps(n: int) -> Heaps:
    """Empty heaps with room for ``2 n + 1024`` events each."""
    return Heaps(np.empty((2 * n + 1024, 4)), np.zeros(1, np.int64),
                 np.empty((2 * n + 1024, 4)), np.zeros(1, np.int64))


def new_scanners(n: int, ng1: int, ng2: int) -> Scanners:
    """No host scanning yet; ``ng1``, ``ng2``: groups (times sides) of the two levels."""
    u8 = np.zeros(n, np.uint8)
    return Scanners(u8, np.zeros(n, np.int64), u8.copy(), u8.copy(), index_list(n),
                    np.zeros(3), np.zeros(ng1), np.zeros(ng2),
                    np.zeros(max(ng1 // 2, 1), np.int64), np.zeros(max(ng2 // 2, 1), np.int64),
                    index_list(ng1 // 2), index_list(ng2 // 2))


def new_walkers(order: tuple[I64, I64, I64, I64], n: int) -> Walkers:
    """Walkers over ``order`` (sorted positions, host at each, own positions, buckets)."""
    return Walkers(*order, np.zeros(n), np.zeros(n, np.int64), np.zeros(n, np.int64),
                   np.zeros(n), np.zeros(n))


def new_tally(n: int, ntel: int) -> Tally:
    """Counters at the start (every host susceptible) and scratch space for ``n`` hosts."""
    totals = np.zeros(3, np.int64)
    totals[N_SUS] = n
    # a host may be due twice in a step (delay and wake-up)
    return Tally(totals, np.empty(2 * n + 16, np.int64), np.empty(n, np.int64),
                 np.empty(n, np.int64), np.zeros(ntel))


def new_hosts(layout: tuple[I64, I64, I64, F64], init_ids: I64) -> Hosts:
    """Hosts ``(side, g1, g2, rate)``, none infected yet; ``init_ids`` are infected first."""
    n = layout[0].shape[0]
    u8 = np.zeros(n, np.uint8)
    return Hosts(*layout, init_ids, u8, u8.copy(), u8.copy(), np.zeros(n, np.int64),
                 index_list(n))


def new_telescopes(q: F64, lo: I64, hi: I64) -> Telescopes:
    """Telescopes that have seen nothing yet."""
    ntel, n = q.shape
    return Telescopes(q, lo, hi, np.zeros((ntel, n), np.uint8), np.zeros(ntel),
                      np.zeros(ntel, np.int64))


def new_hitlist(hosts: I64, n: int) -> HitList:
    """The hit list ``hosts``, no share handed out yet."""
    return HitList(hosts, np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n),
                   index_list(n))


if TYPE_CHECKING:
    class Run:
        """Type of the compiled :class:`Run`."""

        w: World
        hq: Heaps

        def __init__(self, w: World, hq: Heaps) -> None:
            self.w = w
            self.hq = hq
else:
    @structref.register
    class _RunType(types.StructRef):
        def preprocess_fields(self, fields):
            return tuple((name, types.unliteral(typ)) for name, typ in fields)

    class Run(structref.StructRefProxy):
        """The state of one run as one reference, made by the kernel: the records (``w``) and
        the event heaps (``hq``, replaced by bigger ones when full). Every phase takes it: one
        pointer, where a record of some 80 arrays is passed as 600 machine words at each call.
        """

    structref.define_proxy(Run, _RunType, ["w", "hq"])
