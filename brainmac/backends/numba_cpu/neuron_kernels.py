"""Neuron update kernel: one partition, one step. Symbols as in brainmac.compile.neurons.

Order within a step, as NEST's iaf_psc_exp / iaf_psc_delta:
1. read and clear this step's input (plus the Poisson drive's events);
2. lif_exp: V <- P22 V + P21 I + const unless refractory; I <- P11 I + input.
   lif_delta: V <- P22 V + const + input unless refractory (input then dropped); V >= v_min;
3. V >= threshold: spike, V <- reset, clamp for ref_steps steps.

One kernel serves every profile. The helpers below are specialized by numba on the state
type at compile time (no branch on the profile in the loop):
- fixed point (integer state): products are summed in int64 and rounded back with a
  counter-based dither (stochastic rounding, unbiased: plain truncation would make small
  values stall), then saturated to +-smax with every saturation counted in
  ``sat[p, :3] = (V, I_ex, I_in)``;
- float state: plain IEEE arithmetic in the state's precision.

Dithers. Every neuron-step draws one 64-bit word h = ``hash3(key, neuron, step)``; its high
32 bits are the Poisson drive's draw. lif_delta's dither is the low F bits of h (F =
``frac_bits``). lif_exp needs three, V, I_ex and I_in, from the low 32 bits: dither k is
the DITHER_BITS-bit field r = bits [F - 8 (k + 1), F - 8 k) of h (k = 0, 1, 2), placed at
the top of the F fractional bits and centred on its step: ``r 2**(F - 8) + 2**(F - 9)``
(F >= 24). A value with fraction f (in LSB) then rounds up with probability ``round(f
2**8) / 2**8``: the mean of one rounding is off by at most 2**-9 LSB (0.002 LSB), and by
nothing on average over f. One word per neuron-step instead of two (the currents had a
second ``mix64`` until session 12) is docs/performance.md's "Session 12".

The loops are branch-free so that LLVM vectorizes them (AVX2 / AVX-512 with 64-bit
multiplies): a partition is stepped in blocks of BLOCK neurons, in passes over scratch rows
(random words and Poisson counts; state update with selects; spike compaction).

Poisson counts without a search: with ``x = h >> 32`` the drive's uniform is
``u = (x + 0.5) / 2**32`` exactly, so ``cdf[k] <= u`` iff ``x >= thr[k]`` for the integer
``thr[k] = min{x : x + 0.5 >= 2**32 cdf[k]}`` (:func:`poisson_thresholds`). The count,
``searchsorted(cdf, u, side="right") = #{k : thr[k] <= x}``, is ``k0 + #{w : thr[k0 + w] <=
x}`` over a fixed window of POISSON_WINDOW entries from ``k0`` whenever ``thr[k0 - 1] <= x <
thr[k0 + POISSON_WINDOW]``; the rare words outside (the window holds the most probable
counts) are counted again by a scalar search. The window is compared in 32-bit lanes,
COUNT_LANES words at once (:func:`count_lanes`).

Sub-step spike times (``brainmac.compile.substep``; k = ``sub_bits`` > 0): the input of a
step comes in three channels already weighted by the time left after each event's arrival
(receptor 0, receptor 1, V; int64 in Q(frac_bits - TABLE_SHIFT) in fixed point), joins the
propagated state *before* its rounding, and a spiking neuron's crossing is located by
linear interpolation of V over the step (:func:`crossing_sub`), in its compaction pass, so
that only spiking neurons pay the division.
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

from brainmac.rng import GOLDEN, mix64

BLOCK = 512  # neurons per pass: the scratch rows stay in L1
DITHER_BITS = 8  # random bits of each of lif_exp's three dithers (module doc)
POISSON_WINDOW = 8  # threshold entries compared per neuron, unrolled
COUNT_LANES = 16  # draws counted at once, in 32-bit lanes (one AVX-512 vector)
NEVER = 1 << 32  # a threshold no 32-bit word reaches (cdf = 1)
_S32 = np.uint64(32)
_S24 = np.uint64(24)  # a source's random offset: hash bits 24..31 (substep.SOURCE_BITS_SHIFT)


def widen(x):
    """The compute type of a state value: int64 for integers, itself for floats."""


def round_state(acc, dither, frac_bits):
    """Fixed point: (acc + dither) >> frac_bits. Float: acc."""


def clip_state(x, smax):
    """Fixed point: x clipped to +-smax. Float: x."""


def n_clipped(clipped, x):
    """Fixed point: 1 if clipping changed x, else 0 (a saturation). Float: 0."""


def times_count(w, k):
    """The input of k drive events of weight w: int64 product; float: in w's precision."""


def to_frac(x, shift):
    """Fixed point: a table-scaled input sum shifted up to Q(frac_bits). Float: x."""


@overload(to_frac, inline="always")
def _to_frac(x, shift):
    if isinstance(x, types.Integer):
        return lambda x, shift: np.int64(x) << shift
    return lambda x, shift: x


@overload(widen, inline="always")
def _widen(x):
    if isinstance(x, types.Integer):
        return lambda x: np.int64(x)
    return lambda x: x


@overload(round_state, inline="always")
def _round_state(acc, dither, frac_bits):
    if isinstance(acc, types.Integer):
        return lambda acc, dither, frac_bits: (acc + np.int64(dither)) >> frac_bits
    return lambda acc, dither, frac_bits: acc


@overload(clip_state, inline="always")
def _clip_state(x, smax):
    if isinstance(x, types.Integer):
        return lambda x, smax: min(max(x, -smax), smax)
    return lambda x, smax: x


@overload(n_clipped, inline="always")
def _n_clipped(clipped, x):
    if isinstance(x, types.Integer):
        return lambda clipped, x: np.int64(clipped != x)
    return lambda clipped, x: np.int64(0)


@overload(times_count, inline="always")
def _times_count(w, k):
    if isinstance(w, types.Integer):
        return lambda w, k: np.int64(w) * k
    if w == types.float32:
        return lambda w, k: w * np.float32(k)
    return lambda w, k: w * np.float64(k)


def poisson_thresholds(cdf: np.ndarray) -> np.ndarray:
    """Integer thresholds of Poisson inversion tables: ``cdf[k] <= (x + 0.5) / 2**32`` iff
    ``x >= thr[k]`` for every 32-bit x. ``cdf`` (P, L) float64 -> (P, L) int64; an entry
    of 1.0 gives NEVER."""
    scaled = np.ldexp(np.asarray(cdf, np.float64), 32)  # exact: a power-of-two scale
    whole = np.floor(scaled)
    thr = (whole + (scaled - whole > 0.5)).astype(np.int64)  # the fraction is exact
    u_at = (thr.astype(np.float64) + 0.5) * (1.0 / 4294967296.0)
    u_below = (thr.astype(np.float64) - 0.5) * (1.0 / 4294967296.0)
    if not (np.all(cdf <= u_at) and np.all((cdf > u_below) | (thr == 0))):
        raise AssertionError("Poisson thresholds disagree with the inversion table")
    return np.minimum(thr, NEVER)


def poisson_windows(thr: np.ndarray, cdf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per partition, the window of POISSON_WINDOW thresholds holding the most probable counts.

    Returns ``window`` (P, POISSON_WINDOW) uint32 = thr[p, k0:k0 + POISSON_WINDOW] and
    ``bounds`` (P, 3) int64 = (k0, lo, hi) with lo = thr[k0 - 1] (0 if k0 = 0) and hi =
    thr[k0 + POISSON_WINDOW]: a word x with lo <= x < hi has the count k0 + #{window <= x}.
    Thresholds beyond 2**32 - 1 are clipped to it (the word 2**32 - 1 is then recounted).
    """
    n_parts, length = thr.shape
    padded = np.full((n_parts, length + POISSON_WINDOW + 1), NEVER, np.int64)
    padded[:, :length] = thr
    cdf_pad = np.ones(padded.shape)
    cdf_pad[:, :length] = cdf
    window = np.empty((n_parts, POISSON_WINDOW), np.int64)
    bounds = np.empty((n_parts, 3), np.int64)
    for p in range(n_parts):
        below = np.concatenate([[0.0], cdf_pad[p, :length]])  # P(count < k0)
        mass = cdf_pad[p, POISSON_WINDOW: POISSON_WINDOW + length + 1] - below
        k0 = int(np.argmax(mass))
        window[p] = padded[p, k0: k0 + POISSON_WINDOW]
        bounds[p] = (k0, padded[p, k0 - 1] if k0 > 0 else 0, padded[p, k0 + POISSON_WINDOW])
    top = NEVER - 1
    bounds[:, 1:] = np.minimum(bounds[:, 1:], top)
    return np.minimum(window, top).astype(np.uint32), bounds


@njit(cache=True, nogil=True, _nrt=False)
def step_words(key, t, b0, nb, hs, xs):
    """``hs[j] = hash3(key, b0 + j, t)``, the random words of neurons [b0, b0+nb) at step t,
    and ``xs[j]`` their high 32 bits (the Poisson draw).

    hash3 mixes ``key + ((i << 32) | t) * GOLDEN``; as ``t < 2**32`` that is ``key + t * GOLDEN
    + i * (GOLDEN << 32)``, which grows by a constant from one neuron to the next (a vector
    add instead of a 64-bit multiply).
    """
    stride = GOLDEN << _S32
    w = np.uint64(key) + np.uint64(t) * GOLDEN + np.uint64(b0) * stride
    for j in range(nb):
        h = mix64(w)
        hs[j] = h
        xs[j] = np.uint32(h >> _S32)
        w += stride


@njit(inline="always", cache=True)
def dither_masks(frac_bits):
    """(mask, half) of :func:`dither` for F = ``frac_bits`` fractional bits (3 DITHER_BITS
    <= F <= 32, see ``driver.check_dither_bits``): the field's bits [F - DITHER_BITS, F),
    and half of its last step, 2**(F - DITHER_BITS - 1). Float profiles (F = 0) use no
    dither: (0, 0)."""
    if frac_bits < 3 * DITHER_BITS:
        return np.uint64(0), np.uint64(0)
    top = np.uint64(frac_bits - DITHER_BITS)
    return (np.uint64((1 << DITHER_BITS) - 1) << top), np.uint64(1) << (top - np.uint64(1))


@njit(inline="always", cache=True)
def dither(h, field, mask, half):
    """Dither ``field`` (0: V, 1: I_ex, 2: I_in) of lif_exp from its random word h: bits
    [F - DITHER_BITS (field + 1), F - DITHER_BITS field) of h moved up to the top of the
    profile's F fractional bits, and centred (module doc). Two vector operations at most
    (a shift by a constant, and one ternary logic operation)."""
    return ((h << np.uint64(DITHER_BITS * field)) & mask) | half


@intrinsic
def count_lanes(typingctx, xs, cnt, j, window, k0, lo, hi):
    """``cnt[j:j+COUNT_LANES] = k0 + #{w : window[w] <= xs[j + lane]}`` in 32-bit lanes;
    returns True if some draw of these lanes lies outside [lo, hi). Written as vectors:
    numba types ``int32 + int32`` as int64, and the loop it compiles counted 8 lanes of 64
    bits at once with a widening per comparison (0.95 ns per neuron, more than the random
    words). The caller keeps ``j + COUNT_LANES <= xs.size, cnt.size``."""
    sig = types.boolean(xs, cnt, j, window, k0, lo, hi)

    def codegen(context, builder, signature, args):
        a_xs, a_cnt, v_j, a_win, v_k0, v_lo, v_hi = args
        t_xs, t_cnt, _, t_win = signature.args[:4]
        i32 = ir.IntType(32)
        vec = ir.VectorType(i32, COUNT_LANES)

        def data(aryty, value):
            return context.make_array(aryty)(context, builder, value).data

        def splat(value):
            value = builder.trunc(value, i32) if value.type.width > 32 else value
            one = builder.insert_element(ir.Constant(vec, ir.Undefined), value, i32(0))
            return builder.shuffle_vector(one, ir.Constant(vec, ir.Undefined),
                                          ir.Constant(vec, [0] * COUNT_LANES))

        at = builder.bitcast(builder.gep(data(t_xs, a_xs), [v_j]), vec.as_pointer())
        x = builder.load(at, align=4)
        c = splat(v_k0)
        win = data(t_win, a_win)
        for w in range(POISSON_WINDOW):
            thr = builder.load(builder.gep(win, [ir.Constant(ir.IntType(64), w)]))
            c = builder.add(c, builder.zext(builder.icmp_unsigned(">=", x, splat(thr)), vec))
        out = builder.bitcast(builder.gep(data(t_cnt, a_cnt), [v_j]), vec.as_pointer())
        builder.store(c, out, align=4)
        outside = builder.or_(builder.icmp_unsigned("<", x, splat(v_lo)),
                              builder.icmp_unsigned(">=", x, splat(v_hi)))
        mask = builder.bitcast(outside, ir.IntType(COUNT_LANES))
        return builder.icmp_unsigned("!=", mask, ir.IntType(COUNT_LANES)(0))

    return sig, codegen


@njit(cache=True, nogil=True, _nrt=False)
def count_events(nb, xs, window, k0, lo, hi, thr, cnt):
    """Poisson counts of the draws ``xs[:nb]`` into ``cnt``: by the window (module doc),
    COUNT_LANES draws at once; the draws outside it, and those past the last whole vector,
    by a search of the thresholds ``thr``."""
    whole = nb - nb % COUNT_LANES
    for j in range(0, whole, COUNT_LANES):
        if count_lanes(xs, cnt, j, window, k0, lo, hi):
            for i in range(j, j + COUNT_LANES):
                if xs[i] < lo or xs[i] >= hi:
                    cnt[i] = searched_count(xs[i], thr)
    for i in range(whole, nb):
        cnt[i] = searched_count(xs[i], thr)


@njit(inline="always", cache=True)
def searched_count(x, thr):
    """#{k : thr[k] <= x} by a linear search (thr ascending, ending with NEVER)."""
    k = 0
    while thr[k] <= x:
        k += 1
    return k


@njit(cache=True, nogil=True, _nrt=False)
def step_exp(nb, in_ex_slot, in_in_slot, v, i_ex, i_in, refr, coef, const, levels, ref_steps,
             w_drive, rec_in, frac_bits, mask, half, smax, hs, cnt, fired):
    """lif_exp: one step of ``nb`` neurons (arrays are views starting at the first);
    spiking ones flagged in ``fired``. ``coef`` = (p22, p21e, p21i, p11e, p11i); ``mask``,
    ``half`` place the dithers (:func:`dither_masks`). Returns (spikes, saturations of V,
    I_ex, I_in)."""
    p22, p21e, p21i, p11e, p11i = coef[0], coef[1], coef[2], coef[3], coef[4]
    theta, reset = levels[0], levels[1]
    zero = in_ex_slot[0] - in_ex_slot[0]
    n_v = n_e = n_i = n_fired = 0
    for j in range(nb):
        drive = times_count(w_drive, cnt[j])
        in_ex = widen(in_ex_slot[j] + (zero if rec_in else drive))
        in_in = widen(in_in_slot[j] + (drive if rec_in else zero))
        in_ex_slot[j] = zero
        in_in_slot[j] = zero
        h = hs[j]
        x, ie, ii, r = widen(v[j]), widen(i_ex[j]), widen(i_in[j]), refr[j]
        xn = round_state(p22 * x + p21e * ie + p21i * ii + const, dither(h, 0, mask, half),
                         frac_bits)
        x = xn if r == 0 else x
        r = r - 1 if r != 0 else r
        ie = round_state(p11e * ie, dither(h, 1, mask, half), frac_bits) + in_ex
        ii = round_state(p11i * ii, dither(h, 2, mask, half), frac_bits) + in_in
        xc, iec, iic = clip_state(x, smax), clip_state(ie, smax), clip_state(ii, smax)
        n_v += n_clipped(xc, x)
        n_e += n_clipped(iec, ie)
        n_i += n_clipped(iic, ii)
        x, ie, ii = xc, iec, iic
        spike = x >= theta
        v[j] = reset if spike else x
        refr[j] = ref_steps if spike else r
        i_ex[j] = ie
        i_in[j] = ii
        fired[j] = spike
        n_fired += spike
    return n_fired, n_v, n_e, n_i


@njit(cache=True, nogil=True, _nrt=False)
def step_delta(nb, in_ex_slot, in_in_slot, v, refr, coef, const, levels, ref_steps, w_drive,
               rec_in, frac_bits, smax, hs, cnt, fired):
    """lif_delta: one step of ``nb`` neurons (arrays are views starting at the first);
    spiking ones flagged in ``fired``. ``coef[0]`` = p22. Returns (spikes, saturations of
    V, 0, 0)."""
    p22 = coef[0]
    theta, reset, v_min = levels[0], levels[1], levels[2]
    mask = np.uint64((1 << frac_bits) - 1)
    zero = in_ex_slot[0] - in_ex_slot[0]
    n_v = n_fired = 0
    for j in range(nb):
        drive = times_count(w_drive, cnt[j])
        in_ex = widen(in_ex_slot[j] + (zero if rec_in else drive))
        in_in = widen(in_in_slot[j] + (drive if rec_in else zero))
        in_ex_slot[j] = zero
        in_in_slot[j] = zero
        x, r = widen(v[j]), refr[j]
        xn = max(round_state(p22 * x + const, hs[j] & mask, frac_bits) + in_ex + in_in, v_min)
        x = xn if r == 0 else x
        r = r - 1 if r != 0 else r
        xc = clip_state(x, smax)
        n_v += n_clipped(xc, x)
        x = xc
        spike = x >= theta
        v[j] = reset if spike else x
        refr[j] = ref_steps if spike else r
        fired[j] = spike
        n_fired += spike
    return n_fired, n_v, 0, 0


@njit(cache=True, nogil=True, _nrt=False)
def step_exp_sub(nb, acc_0, acc_1, acc_v, v, i_ex, i_in, refr, coef, const, levels, ref_steps,
                 w_sub, rec_in, frac_bits, mask, half, shift, smax, hs, cnt, fired, v0s, v1s):
    """lif_exp with sub-step input (module doc): channels ``acc_0`` (I_ex), ``acc_1`` (I_in),
    ``acc_v`` (V) are read and cleared; ``w_sub`` = (the drive's input to its receptor's
    channel, to V) per event. V at the step's start and end (before reset) go to ``v0s``,
    ``v1s``. Returns as :func:`step_exp`."""
    p22, p21e, p21i, p11e, p11i = coef[0], coef[1], coef[2], coef[3], coef[4]
    theta, reset = levels[0], levels[1]
    zero = acc_0[0] - acc_0[0]
    n_v = n_e = n_i = n_fired = 0
    for j in range(nb):
        d_rec = times_count(w_sub[0], cnt[j])
        d_v = times_count(w_sub[1], cnt[j])
        in_ex = to_frac(acc_0[j] + (zero if rec_in else d_rec), shift)
        in_in = to_frac(acc_1[j] + (d_rec if rec_in else zero), shift)
        in_v = to_frac(acc_v[j] + d_v, shift)
        acc_0[j] = zero
        acc_1[j] = zero
        acc_v[j] = zero
        h = hs[j]
        x, ie, ii, r = widen(v[j]), widen(i_ex[j]), widen(i_in[j]), refr[j]
        x0 = x
        xn = round_state(p22 * x + p21e * ie + p21i * ii + const + in_v, dither(h, 0, mask, half),
                         frac_bits)
        x = xn if r == 0 else x
        r = r - 1 if r != 0 else r
        ie = round_state(p11e * ie + in_ex, dither(h, 1, mask, half), frac_bits)
        ii = round_state(p11i * ii + in_in, dither(h, 2, mask, half), frac_bits)
        xc, iec, iic = clip_state(x, smax), clip_state(ie, smax), clip_state(ii, smax)
        n_v += n_clipped(xc, x)
        n_e += n_clipped(iec, ie)
        n_i += n_clipped(iic, ii)
        x, ie, ii = xc, iec, iic
        spike = x >= theta
        v0s[j] = np.float64(x0)
        v1s[j] = np.float64(x)
        v[j] = reset if spike else x
        refr[j] = ref_steps if spike else r
        i_ex[j] = ie
        i_in[j] = ii
        fired[j] = spike
        n_fired += spike
    return n_fired, n_v, n_e, n_i


@njit(cache=True, nogil=True, _nrt=False)
def step_delta_sub(nb, acc_0, acc_1, v, refr, coef, const, levels, ref_steps, w_sub, frac_bits,
                   shift, smax, hs, cnt, fired, v0s, v1s):
    """lif_delta with sub-step input: both channels already hold the input's share at the
    step's end (w P22 over the time left). Arguments and result as :func:`step_exp_sub`."""
    p22 = coef[0]
    theta, reset, v_min = levels[0], levels[1], levels[2]
    mask = np.uint64((1 << frac_bits) - 1)
    zero = acc_0[0] - acc_0[0]
    n_v = n_fired = 0
    for j in range(nb):
        total = to_frac(acc_0[j] + acc_1[j] + times_count(w_sub[0], cnt[j]), shift)
        acc_0[j] = zero
        acc_1[j] = zero
        x, r = widen(v[j]), refr[j]
        x0 = x
        xn = max(round_state(p22 * x + const + total, hs[j] & mask, frac_bits), v_min)
        x = xn if r == 0 else x
        r = r - 1 if r != 0 else r
        xc = clip_state(x, smax)
        n_v += n_clipped(xc, x)
        x = xc
        spike = x >= theta
        v0s[j] = np.float64(x0)
        v1s[j] = np.float64(x)
        v[j] = reset if spike else x
        refr[j] = ref_steps if spike else r
        fired[j] = spike
        n_fired += spike
    return n_fired, n_v, 0, 0


@njit(inline="always", cache=True)
def crossing_sub(v0, v1, theta, n_sub):
    """The sub-step (0 .. n_sub - 1) holding the threshold crossing of V, linear from v0
    (step start) to v1 >= theta (step end), rounded up to whole sub-steps; 0 if v0 >=
    theta. Float64 throughout (exact for the integer state of the fixed-point profiles)."""
    if v0 >= theta:
        return 0
    s = math.ceil((theta - v0) * n_sub / (v1 - v0))
    return min(max(s, 1), n_sub) - 1


@njit(cache=True, nogil=True, _nrt=False)
def compact_sub(b0, nb, fired, v0s, v1s, theta, n_sub, random_sub, hs, spikes, subs, offset):
    """:func:`compact`, also writing each spike's sub-step offset to ``subs``: the crossing
    (:func:`crossing_sub`), or for a spike source a uniform draw from its hash bits 24..."""
    n = 0
    top = np.uint64(n_sub - 1)
    for j in range(nb):
        if fired[j]:
            spikes[offset + n] = b0 + j
            if random_sub:
                subs[offset + n] = np.int64((hs[j] >> _S24) & top)
            else:
                subs[offset + n] = crossing_sub(v0s[j], v1s[j], theta, n_sub)
            n += 1
    return n


@njit(cache=True, nogil=True, _nrt=False)
def compact(b0, nb, fired, spikes, offset):
    """Append the flagged neurons' ids to ``spikes[offset:]``; returns how many."""
    n = 0
    for j in range(nb):
        if fired[j]:
            spikes[offset + n] = b0 + j
            n += 1
    return n


@njit(cache=True, nogil=True, _nrt=False)
def update_partition(p, t, n0, n1, acc, v, i_ex, i_in, refr, coef, const, levels, ref_steps,
                     model_code, count_thr, count_win, count_bounds, drive_weight,
                     drive_receptor, drive_window, key, frac_bits, smax, sub, sat, spikes, subs,
                     offset, scratch):
    """Step neurons [n0, n1) of partition p at step t; returns the spike count.

    ``acc`` holds the partition's input of the step, excitatory (n1 - n0) then inhibitory
    (then V, with sub-steps); it is read and cleared. Spikes are written to
    ``spikes[offset:]`` as global neuron ids, ascending, and their sub-step offsets to
    ``subs[offset:]`` (with sub-steps only). ``sub`` is (sub_bits, shift, table, drive_sub,
    random_sub) (driver.kernel_arrays). ``scratch`` is (hs (BLOCK,) uint64: the random word
    of each neuron, xs (BLOCK,) uint32, cnt (BLOCK,) int32, fired (BLOCK,) bool, v0s, v1s
    (BLOCK,) float64), this call's own.
    """
    size = n1 - n0
    hs, xs, cnt, fired, v0s, v1s = scratch
    mask, half = dither_masks(frac_bits)
    sub_bits, shift, drive_sub = sub[0], sub[1], sub[3]
    k0 = count_bounds[p, 0]
    lo, hi = np.uint32(count_bounds[p, 1]), np.uint32(count_bounds[p, 2])
    rec_in = drive_receptor[p] != 0
    on = drive_window[p, 0] <= t < drive_window[p, 1]  # the drive's steps [start, stop)
    n_spikes = n_sat_v = n_sat_e = n_sat_i = 0
    for b0 in range(n0, n1, BLOCK):
        b1 = min(b0 + BLOCK, n1)
        nb = b1 - b0
        step_words(key, t, b0, nb, hs, xs)
        if on:
            count_events(nb, xs, count_win[p], k0, lo, hi, count_thr[p], cnt)
        else:
            cnt[:nb] = 0
        acc_ex = acc[b0 - n0: b1 - n0]
        acc_in = acc[size + b0 - n0: size + b1 - n0]
        if sub_bits > 0:
            acc_v = acc[2 * size + b0 - n0: 2 * size + b1 - n0]
            if model_code[p] == 1:
                n_fired, s_v, s_e, s_i = step_exp_sub(
                    nb, acc_ex, acc_in, acc_v, v[b0:b1], i_ex[b0:b1], i_in[b0:b1],
                    refr[b0:b1], coef[p], const[p], levels[p], ref_steps[p], drive_sub[p],
                    rec_in, frac_bits, mask, half, shift, smax, hs, cnt, fired, v0s, v1s)
            else:
                n_fired, s_v, s_e, s_i = step_delta_sub(
                    nb, acc_ex, acc_in, v[b0:b1], refr[b0:b1], coef[p], const[p], levels[p],
                    ref_steps[p], drive_sub[p], frac_bits, shift, smax, hs, cnt, fired, v0s,
                    v1s)
            n_sat_v += s_v
            n_sat_e += s_e
            n_sat_i += s_i
            if n_fired:
                n_spikes += compact_sub(b0, nb, fired, v0s, v1s, np.float64(levels[p, 0]),
                                        1 << sub_bits, sub[4][p], hs, spikes, subs,
                                        offset + n_spikes)
            continue
        if model_code[p] == 1:
            n_fired, s_v, s_e, s_i = step_exp(
                nb, acc_ex, acc_in, v[b0:b1], i_ex[b0:b1], i_in[b0:b1], refr[b0:b1], coef[p],
                const[p], levels[p], ref_steps[p], drive_weight[p], rec_in, frac_bits, mask, half,
                smax, hs, cnt, fired)
        else:
            n_fired, s_v, s_e, s_i = step_delta(
                nb, acc_ex, acc_in, v[b0:b1], refr[b0:b1], coef[p], const[p], levels[p],
                ref_steps[p], drive_weight[p], rec_in, frac_bits, smax, hs, cnt, fired)
        n_sat_v += s_v
        n_sat_e += s_e
        n_sat_i += s_i
        if n_fired:
            n_spikes += compact(b0, nb, fired, spikes, offset + n_spikes)
    sat[p, 0] += n_sat_v  # once per call: another thread may own the next partition
    sat[p, 1] += n_sat_e
    sat[p, 2] += n_sat_i
    return n_spikes
