"""The kernel's state: a few named records of numpy arrays instead of long positional lists.

Every record is a ``NamedTuple`` that numba compiles as a struct, so a phase reads
``sim.hosts.state[h]`` or ``sim.scan.agg[A_SENT]`` by name and swapping two arrays of the same
type is a visible edit, not a silent change of argument order. Scalars that change during a
run live in one-element arrays (a tuple is immutable, its arrays are not); the two event heaps
live in a one-element typed list so that growing one replaces the array in place.

``Sim`` groups them:

* inputs that never change: :class:`Params` (the scenario's numbers), :class:`World` (per host:
  groups, side of the filtered block, scan rate; telescopes; allowed side-to-side probes),
  :class:`Order` (the walkers' order and the hit list), :class:`Timeline` (rate schedules and
  calendar phase changes);
* state: :class:`Hosts` (life cycle), :class:`Pools` (susceptible hosts by group),
  :class:`Scanners` (who scans and the random scanners' aggregate rates), :class:`Telescopes`,
  :class:`Walkers`, :class:`HitList`, :class:`Heap` (timed events), :class:`Clock`, and
  :class:`Scratch` (per-step buffers and the current output bin's sums).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numba.typed import List

from wormsign.sim._jit import njit
from wormsign.sim.codes import (
    HITLIST,
    LOCAL,
    P_1,
    P_2,
    P_ANY,
    P_ANY_SPACE,
    P_BL_COV,
    P_BL_REACT,
    P_CAP,
    P_CF_COV,
    P_CF_REACT,
    P_DELAY,
    P_DT,
    P_DURATION,
    P_EPS,
    P_FLOOD,
    P_JITTER,
    P_SIZE1,
    P_SIZE2,
    P_SPACE,
    P_STEP,
    PERM,
    Q_HITLIST_THEN,
    Q_KMAX,
    Q_SEQ_START,
    Q_STRATEGY,
    UNIFORM,
)

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]

# Hosts.totals
N_EVER, N_SUS, N_REMOVED = 0, 1, 2
# Scratch.bins: sums over the current output bin
B_NEW, B_PROBES, B_FLOOD = 0, 1, 2


class IndexList(NamedTuple):
    """A set of ids with O(1) add and remove: ``items[:n[0]]``; ``pos[id]`` is its slot or -1."""

    items: I64
    pos: I64
    n: I64


class Pool(NamedTuple):
    """Hosts grouped, available ones first in each group (see :mod:`wormsign.sim.pools`)."""

    mem: I64
    pos: I64
    start: I64
    cnt: I64


class Pools(NamedTuple):
    """Susceptible hosts by side of the filtered block, by own prefix 1 and 2 group and side.

    ``key1``/``key2`` give each host's group in ``own1``/``own2`` (the side is its group in
    ``by_side``).
    """

    by_side: Pool
    own1: Pool
    own2: Pool
    key1: I64
    key2: I64


class Params(NamedTuple):
    """The scenario's numbers, read once from the engine's parameter vectors."""

    strategy: int
    hitlist_then: int
    seq_start: int
    kmax: int
    local: bool
    random_scan: bool  # some scanners pick targets at random (hit-list fall-back included)
    walk_restart: bool  # a walker that meets an infected host jumps elsewhere
    space: float
    any_space: float
    p_any: float
    p1: float
    p2: float
    size1: float
    size2: float
    duration: float
    step: float
    dt: float
    eps: float
    cap: float
    delay: float
    bl_react: float
    bl_cov: float
    cf_react: float
    cf_cov: float
    flood: float
    jitter: float


class World(NamedTuple):
    """Per host: prefix groups, side of the filtered block, scan rate; per telescope and host
    the chance that one probe lands there, and its range; the 2 x 2 allowed-probe matrix."""

    g1: I64
    g2: I64
    side: I64
    rate: F64
    qtel: F64
    tel_lo: I64
    tel_hi: I64
    allow: F64


class Order(NamedTuple):
    """Who is infected first, and in what order targets are tried: the walkers' order (sorted
    positions, the host at each, each host's own position, the buckets that speed up a search)
    and the hit list."""

    initial: I64
    sorted: I64
    host: I64
    own: I64
    bucket: I64
    hitlist: I64


class Timeline(NamedTuple):
    """Patch, removal and reboot rate schedules (rows 0, 1, 2) and calendar phase changes."""

    sched_t: F64
    sched_v: F64
    sched_n: I64
    cal_t: F64
    cal_ph: I64


class Hosts(NamedTuple):
    """Life-cycle state per host (``epoch`` counts infection episodes) and the totals."""

    state: U8
    ever: U8
    black: U8
    epoch: I64
    infected: IndexList
    totals: I64  # N_EVER, N_SUS, N_REMOVED


class Scanners(NamedTuple):
    """Hosts that scan (``sepoch`` counts scanning spells) and, for random scanners, the
    effective probe rates per side (``agg[0:2]``, ``agg[A_SENT]`` all sent) and per prefix
    group and side, with the groups that hold a random scanner (``act1``/``act2``)."""

    scanning: U8
    sepoch: I64
    members: IndexList
    randomer: U8
    agg: F64
    rate1: F64
    rate2: F64
    cnt1: I64
    cnt2: I64
    act1: IndexList
    act2: IndexList


class Telescopes(NamedTuple):
    """Which hosts each telescope has seen, their summed probe rate there, how many."""

    seen: U8
    qsum: F64
    unique: I64


class Heap(NamedTuple):
    """A binary heap of ``(time, host, kind, epoch)`` rows (:mod:`wormsign.sim.heap`) in
    ``box[0]``, ``n[0]`` rows used; :func:`reserve` grows it."""

    box: list[F64]
    n: I64


class Walkers(NamedTuple):
    """Sequence walkers: unwrapped position ``pos`` reached at virtual time ``vt``, index of the
    next vulnerable position ``ptr``, laps ``wrap``, telescope accounting ``acc``; ``heap``
    holds each walker's next vulnerable crossing in virtual time."""

    walker: U8
    pos: F64
    ptr: I64
    wrap: I64
    vt: F64
    acc: F64
    heap: Heap


class HitList(NamedTuple):
    """Each holder's share ``hitlist[lo:hi]`` of the list and its unspent probes."""

    lo: I64
    hi: I64
    holders: IndexList
    budget: F64


class Clock(NamedTuple):
    """Virtual time (time scaled by the probe cap), calendar phase and next change."""

    vtime: F64
    phase: I64
    cal_i: I64


class Scratch(NamedTuple):
    """Buffers of one step (new infections, picked hosts, hit-list holders that ran out) and
    the sums of the current output bin (``bins``, ``bin_tel``)."""

    fresh: I64
    picked: I64
    finished: I64
    bins: F64
    bin_tel: F64


class Sim(NamedTuple):
    """Everything one run reads and writes."""

    params: Params
    world: World
    order: Order
    timeline: Timeline
    hosts: Hosts
    pools: Pools
    scan: Scanners
    tel: Telescopes
    walk: Walkers
    hit: HitList
    events: Heap
    clock: Clock
    scratch: Scratch


@njit
def make_params(pf: F64, pi: I64) -> Params:
    """:class:`Params` from the engine's float and int vectors (indexed by :mod:`codes`)."""
    strategy = pi[Q_STRATEGY]
    hl_then = pi[Q_HITLIST_THEN]
    local = strategy == LOCAL
    return Params(
        strategy, hl_then, pi[Q_SEQ_START], pi[Q_KMAX], local,
        strategy == UNIFORM or local or (strategy == HITLIST and hl_then == 0),
        strategy == PERM or (strategy == HITLIST and hl_then == 1),
        pf[P_SPACE], pf[P_ANY_SPACE], pf[P_ANY], pf[P_1], pf[P_2], pf[P_SIZE1], pf[P_SIZE2],
        pf[P_DURATION], pf[P_STEP], pf[P_DT], pf[P_EPS], pf[P_CAP], pf[P_DELAY],
        pf[P_BL_REACT], pf[P_BL_COV], pf[P_CF_REACT], pf[P_CF_COV], pf[P_FLOOD], pf[P_JITTER])


@njit
def index_list(n: int) -> IndexList:
    """An empty :class:`IndexList` for ids below ``n``."""
    return IndexList(np.empty(n, np.int64), np.full(n, -1, np.int64), np.zeros(1, np.int64))


@njit
def heap(rows: int) -> Heap:
    """An empty :class:`Heap` with room for ``rows`` events."""
    box = List()
    box.append(np.empty((rows, 4)))
    return Heap(box, np.zeros(1, np.int64))


@njit
def host_state(n: int) -> Hosts:
    """Every host susceptible, never infected."""
    totals = np.zeros(3, np.int64)
    totals[N_SUS] = n
    return Hosts(np.zeros(n, np.uint8), np.zeros(n, np.uint8), np.zeros(n, np.uint8),
                 np.zeros(n, np.int64), index_list(n), totals)


@njit
def scanners(n: int, ng1: int, ng2: int) -> Scanners:
    """Nobody scanning; ``ng1``/``ng2`` groups-and-sides per prefix level."""
    m1 = max(ng1 // 2, 1)
    m2 = max(ng2 // 2, 1)
    return Scanners(np.zeros(n, np.uint8), np.zeros(n, np.int64), index_list(n),
                    np.zeros(n, np.uint8), np.zeros(3), np.zeros(ng1), np.zeros(ng2),
                    np.zeros(m1, np.int64), np.zeros(m2, np.int64), index_list(m1),
                    index_list(m2))


@njit
def walkers(n: int) -> Walkers:
    """No walker yet; room in the heap for every host to start twice."""
    return Walkers(np.zeros(n, np.uint8), np.zeros(n), np.zeros(n, np.int64),
                   np.zeros(n, np.int64), np.zeros(n), np.zeros(n), heap(2 * n + 1024))


@njit
def hit_list(n: int) -> HitList:
    """No holder yet."""
    return HitList(np.zeros(n, np.int64), np.zeros(n, np.int64), index_list(n), np.zeros(n))


@njit
def scratch(n: int, ntel: int) -> Scratch:
    """Step buffers (a host may be due twice in a step: delay and wake-up)."""
    return Scratch(np.empty(2 * n + 16, np.int64), np.empty(n, np.int64),
                   np.empty(n, np.int64), np.zeros(3), np.zeros(ntel))


@njit
def new_sim(params: Params, world: World, order: Order, timeline: Timeline,
            pools: Pools) -> Sim:
    """The state at t = 0, before the first infections."""
    n = world.g1.shape[0]
    ntel = world.qtel.shape[0]
    clock = Clock(np.zeros(1), np.full(1, timeline.cal_ph[0], np.int64), np.ones(1, np.int64))
    tel = Telescopes(np.zeros((ntel, n), np.uint8), np.zeros(ntel), np.zeros(ntel, np.int64))
    return Sim(params, world, order, timeline, host_state(n), pools,
               scanners(n, pools.own1.start.shape[0] - 1, pools.own2.start.shape[0] - 1), tel,
               walkers(n), hit_list(n), heap(2 * n + 1024), clock, scratch(n, ntel))
