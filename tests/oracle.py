"""A slow, obviously correct NumPy simulator: the judge of every fast path and profile.

It steps every neuron of the network one step at a time, vectorized over neurons only, and
delivers each spike with ``np.add.at`` in (step, presynaptic id, synapse) order. It shares
with brainmac only the network description, the synapse *generator* (tested on its own) and
the per-population scales; propagators, rounding, drive and delivery are written anew here.

With ``substep_bits`` k > 0 (spike offsets within the step, see brainmac.compile.substep)
it keeps a ring of three channels per slot (receptor 0, receptor 1, V), weights every
delivered input by the decay over the sub-steps left in its arrival step, adds the channels
before the rounding, and locates each spike's crossing by linear interpolation.
"""

from __future__ import annotations

import math

import numpy as np

from brainmac.compile.compiler import compile_network
from brainmac.compile.drives import poisson_cdf
from brainmac.compile.generate import generate
from brainmac.compile.neurons import network_numerics
from brainmac.compile.plan import plan_projections
from brainmac.compile.profiles import get_profile
from brainmac.compile.substep import TABLE_SHIFT
from brainmac.network.network import DCDrive, PoissonDrive

GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def mix64(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def step_hash(key, n, t):
    counter = (np.arange(n, dtype=np.uint64) << np.uint64(32)) | np.uint64(t)
    return mix64(np.uint64(key) + counter * GOLDEN)


def exp_dither(h, field, frac_bits):
    """lif_exp's dither ``field`` (0: V, 1: I_ex, 2: I_in): the 8 bits of h that end 8 *
    field bits below bit frac_bits, as the top 8 of frac_bits fractional bits, centred on
    their step."""
    step = 2 ** (frac_bits - 8)
    bits = (h // np.uint64(step // 2**(8 * field))) % np.uint64(256)
    return bits * np.uint64(step) + np.uint64(step // 2)


def _per_neuron(net, values_by_pop, dtype):
    return np.concatenate([np.full(p.size, values_by_pop[p.name], dtype=dtype)
                           for p in net.populations])


def _propagators(p, h):
    """P22, P21_ex, P21_in, P11_ex, P11_in, P20 written out from the closed form."""
    tau_m, c_m = p["tau_m"], p["C_m"]
    p22 = math.exp(-h / tau_m)
    out = [p22]
    p11 = []
    for x in ("ex", "in"):
        tau_s = p.values.get(f"tau_syn_{x}")
        if tau_s is None:
            out.append(0.0)
            p11.append(0.0)
        elif abs(tau_s - tau_m) < 1e-9 * tau_m:
            out.append(h / c_m * p22)
            p11.append(math.exp(-h / tau_s))
        else:
            out.append(tau_m * tau_s / (c_m * (tau_s - tau_m)) * (math.exp(-h / tau_s) - p22))
            p11.append(math.exp(-h / tau_s))
    return out + p11 + [tau_m / c_m * (1.0 - p22)]


def assert_engine_equals(sim, oracle, o_gid, o_tick) -> None:
    """The engine's spikes, state and saturation counts equal the oracle's exactly."""
    gid, tick = sim.spike_arrays()
    np.testing.assert_array_equal(tick, o_tick)
    np.testing.assert_array_equal(gid, o_gid)
    np.testing.assert_array_equal(sim.v, oracle.v)
    np.testing.assert_array_equal(sim.i_ex, oracle.iex)
    np.testing.assert_array_equal(sim.i_in, oracle.iin)
    assert sim.saturation_counts() == dict(zip(("v", "i_ex", "i_in"), oracle.sat.tolist(),
                                               strict=True))


class Oracle:
    """Simulate ``net`` as brainmac's profile ``profile`` would, slowly."""

    def __init__(self, net, profile="seed", dt_ms=0.1, seed=1, substep_bits=0):
        self.net, self.profile, self.dt, self.seed = net, get_profile(profile), dt_ms, seed
        self.k, self.n_sub = substep_bits, 1 << substep_bits
        prof = self.profile
        compiled = compile_network(net, prof, dt_ms, seed,  # for v_init and the manifest only
                                   substep_bits=substep_bits)
        dc = {p.name: 0.0 for p in net.populations}
        for d in net.drives:
            if isinstance(d, DCDrive):
                dc[d.target.name] += d.amplitude_pa
        nums = network_numerics(net, prof, dt_ms)
        self.fixed = prof.fixed_point
        cdt = np.int64 if self.fixed else prof.state_dtype
        frac = 2.0 ** prof.frac_bits
        coefs = {}
        for pop in net.populations:
            num = nums[pop.name]
            if pop.model == "poisson_source":  # forgets V each step; its drive makes spikes
                coefs[pop.name] = [0] * 6 if self.fixed else [0.0] * 6
                continue
            p22, p21e, p21i, p11e, p11i, p20 = _propagators(pop.neuron, dt_ms)
            i_tot = pop.neuron["I_e"] + dc[pop.name]
            raw = [p22, p21e * num.i_lsb_pa / num.v_lsb_mv, p21i * num.i_lsb_pa / num.v_lsb_mv,
                   p11e, p11i, p20 * i_tot / num.v_lsb_mv]
            coefs[pop.name] = [math.floor(c * frac + 0.5) for c in raw] if self.fixed else raw
        self.c = [_per_neuron(net, {k: v[j] for k, v in coefs.items()}, cdt) for j in range(6)]
        th, reset, vmin = {}, {}, {}
        for pop in net.populations:
            num, p = nums[pop.name], pop.neuron
            if pop.model == "poisson_source":
                th[pop.name], reset[pop.name] = 1, 0
                vmin[pop.name] = -prof.state_max if self.fixed else -math.inf
                continue
            theta = (p["V_th"] - p["E_L"]) / num.v_lsb_mv
            rs = (p["V_reset"] - p["E_L"]) / num.v_lsb_mv
            vm = (p.values.get("V_min", -math.inf) - p["E_L"]) / num.v_lsb_mv
            if self.fixed:
                th[pop.name], reset[pop.name] = math.ceil(theta), math.floor(rs + 0.5)
                vmin[pop.name] = max(-prof.state_max, math.floor(vm + 0.5)) if math.isfinite(
                    vm) else -prof.state_max
            else:
                th[pop.name], reset[pop.name], vmin[pop.name] = theta, rs, vm
        self.th, self.reset, self.vmin = (_per_neuron(net, d, cdt) for d in (th, reset, vmin))
        self.ref = _per_neuron(net, {p.name: round(p.neuron.values.get("t_ref", 0.0) / dt_ms)
                                     for p in net.populations}, np.int64)
        self.is_exp = _per_neuron(net, {p.name: p.model == "lif_exp" for p in net.populations},
                                  bool)
        self.is_source = _per_neuron(net, {p.name: p.model == "poisson_source"
                                           for p in net.populations}, bool)
        self._drive_setup(nums, compiled)
        if self.k:
            self._table_setup(nums)
        self._synapse_setup(nums)
        self.v = compiled.arrays["v_init"].copy()
        n = net.n_neurons
        self.iex = np.zeros(n, prof.state_dtype)
        self.iin = np.zeros(n, prof.state_dtype)
        self.r = np.zeros(n, np.int64)
        self.sat = np.zeros(3, np.int64)
        self.t = 0

    def _drive_setup(self, nums, compiled):
        n = self.net.n_neurons
        self.drive_lambda = np.zeros(n)
        self.drive_w = np.zeros(n, self.profile.ring_dtype)
        self.drive_rec = np.zeros(n, np.int64)
        self.drive_on = np.zeros((n, 2))  # [start, stop) in ms
        offs = self.net.offsets()
        report = {d["drive"]: d for d in compiled.manifest["drives"]}
        drives = [d for d in self.net.drives if isinstance(d, PoissonDrive)]
        for pop in self.net.populations:
            if pop.model == "poisson_source":
                p = pop.neuron
                drives.append(PoissonDrive(pop, p["rate_hz"], 1.0, 1, p["start_ms"],
                                           p["stop_ms"]))
        for d in drives:
            sl = slice(offs[d.target.name], offs[d.target.name] + d.target.size)
            self.drive_on[sl] = (d.start_ms, d.stop_ms)
            self.drive_lambda[sl] = d.rate_hz * d.indegree * self.dt * 1e-3
            num = nums[d.target.name]
            if self.fixed:
                e = report[f"poisson->{d.target.name}"]["gain_exponent"]
                unit = num.weight_lsb * 2.0**e
                self.drive_w[sl] = math.floor(d.weight / unit + 0.5) * 2**e
                actual = float(self.drive_w[sl][0]) * num.weight_lsb
                if actual:  # the rate keeps the drive's mean input exact
                    self.drive_lambda[sl] *= d.weight / actual
            else:
                self.drive_w[sl] = d.weight
            self.drive_rec[sl] = 1 if (d.target.model == "lif_exp" and d.weight < 0) else 0
        self.cdfs = {lam: poisson_cdf(lam) for lam in np.unique(self.drive_lambda)}

    def _synapse_setup(self, nums):
        prof = self.profile
        plans = plan_projections(self.net, nums, prof, self.dt, self.seed, self.k)
        blocks = [generate(plan, 0, plan.n_post, prof, self.dt) for plan in plans]
        gains = {2 * pl.index + r: pl.gain_exponent[r] for pl in plans for r in (0, 1)}
        exp_target = {pl.index: pl.exp_target for pl in plans}
        pre, post, val, delay, rec = [], [], [], [], []
        for pl, b in zip(plans, blocks, strict=True):
            pre.append(b.pre)
            post.append(b.post)
            delay.append(b.delay)
            if self.fixed:
                e = np.array([gains[g] for g in b.gain_index], np.int64)
                val.append(b.value.astype(np.int64) * (2**e))
            else:
                val.append(b.value.astype(prof.ring_dtype))
            rec.append(b.gain_index % 2 if exp_target[pl.index] else np.zeros_like(b.pre))
        cat = [np.concatenate(x) if x else np.zeros(0, np.int64)
               for x in (pre, post, val, delay, rec)]
        gidx = np.concatenate([b.gain_index for b in blocks]) if blocks else np.zeros(0)
        order = np.lexsort((cat[3], gidx, cat[0]))  # by pre, then gain, then delay; stable
        self.s_pre, self.s_post, self.s_val, self.s_delay, self.s_rec = (x[order] for x in cat)
        self.row = np.searchsorted(self.s_pre, np.arange(self.net.n_neurons + 1))
        late = (int(self.s_delay.max()) + self.n_sub - 1) >> self.k if self.s_delay.size else 1
        self.n_slots = late + 1
        if self.k:
            dtype = np.int64 if self.fixed else prof.ring_dtype
            self.ring = np.zeros((self.n_slots, 3, self.net.n_neurons), dtype)
        else:
            self.ring = np.zeros((self.n_slots, 2, self.net.n_neurons), prof.ring_dtype)

    def _table_setup(self, nums):
        """Per population the input factors over q sub-steps left (4, Q): receptor 0 and 1
        into their own channel, then into V; and each neuron's drive per event."""
        prof, n_sub, pops = self.profile, self.n_sub, self.net.populations
        tables = []
        for pop in pops:
            tab = np.zeros((4, n_sub))
            num = nums[pop.name]
            for q in range(n_sub):
                if pop.model == "poisson_source":
                    tab[:2, q] = 1.0
                    continue
                p22, p21e, p21i, p11e, p11i, _ = _propagators(pop.neuron, q * self.dt / n_sub)
                ratio = num.i_lsb_pa / num.v_lsb_mv
                tab[:, q] = ((p11e, p11i, p21e * ratio, p21i * ratio) if pop.model == "lif_exp"
                             else (p22, p22, 0.0, 0.0))
            tables.append(tab)
        self.tab64 = np.array(tables)
        self.pop_of = _per_neuron(self.net, {p.name: i for i, p in enumerate(pops)}, np.int64)
        if self.fixed:
            self.tab = np.floor(self.tab64 * 2.0 ** (prof.frac_bits - TABLE_SHIFT) + 0.5
                                ).astype(np.int64)
        else:
            self.tab = self.tab64.astype(prof.ring_dtype)
        n = self.net.n_neurons
        self.dw = np.zeros((2, n), self.tab.dtype)  # the drive's channel, V
        for j in range(n):
            rows = (self.drive_rec[j], 2 + self.drive_rec[j])
            pop = self.pop_of[j]
            for c, r in enumerate(rows):
                if self.fixed:
                    total = int(self.tab[pop, r].sum())
                    self.dw[c, j] = (int(self.drive_w[j]) * total + n_sub // 2) >> self.k
                else:
                    ring = prof.ring_dtype.type
                    self.dw[c, j] = ring(self.drive_w[j]) * ring(
                        math.fsum(self.tab64[pop, r]) / n_sub)

    def _round(self, acc, dither):
        return (acc + dither.astype(np.int64)) >> self.profile.frac_bits

    def _saturate(self, x, which):
        smax = self.profile.state_max
        over = (x > smax) | (x < -smax)
        self.sat[which] += int(over.sum())
        return np.clip(x, -smax, smax)

    def _drive_counts(self, h, t):
        counts = np.zeros(self.net.n_neurons, np.int64)
        u = ((h >> np.uint64(32)).astype(np.float64) + 0.5) / 4294967296.0
        now = t * self.dt
        on = (self.drive_on[:, 0] <= now + 1e-9 * self.dt) & (now < self.drive_on[:, 1]
                                                              - 1e-9 * self.dt)
        for lam, cdf in self.cdfs.items():
            sel = (self.drive_lambda == lam) & on
            counts[sel] = np.searchsorted(cdf, u[sel], side="right")
        return counts

    def step_sub(self):
        """One step with sub-step offsets; returns (ids, offsets) of the spikes in (offset,
        id) order."""
        n, t, prof = self.net.n_neurons, self.t, self.profile
        from brainmac import rng
        slot = t % self.n_slots
        acc = self.ring[slot].copy()
        self.ring[slot] = 0
        h = step_hash(rng.stream_key(self.seed, rng.STREAM_STEP), n, t)
        counts = self._drive_counts(h, t)
        rec0 = self.drive_rec == 0
        if self.fixed:
            d_rec, d_v = counts * self.dw[0], counts * self.dw[1]
        else:
            cf = counts.astype(prof.ring_dtype)
            d_rec, d_v = cf * self.dw[0], cf * self.dw[1]
        zero = np.zeros_like(d_rec)
        in0 = acc[0] + np.where(rec0, d_rec, zero)
        in1 = acc[1] + np.where(rec0, zero, d_rec)
        inv = acc[2] + d_v
        total = acc[0] + acc[1] + d_rec
        if self.fixed:
            up = np.int64(TABLE_SHIFT)
            in0, in1, inv, total = (x.astype(np.int64) << up for x in (in0, in1, inv, total))
        active = self.r == 0
        self.r[~active] -= 1
        v_new = self._membrane_sub(h, in0, in1, inv, total, active)
        self._currents_sub(h, in0, in1)
        if self.fixed:
            v_new = self._saturate(v_new, 0)
        spiking = v_new >= self.th
        ids = np.flatnonzero(spiking)
        subs = self._offsets(h, ids, v_new)
        v_new[spiking] = self.reset[spiking]
        self.r[spiking] = self.ref[spiking]
        self.v = v_new.astype(prof.state_dtype)
        order = np.lexsort((ids, subs))
        ids, subs = ids[order], subs[order]
        self._deliver_sub(ids, subs, t)
        self.t += 1
        return ids, subs

    def _offsets(self, h, ids, v_end):
        """Sub-step of each spike: linear crossing between V at the step's start and end,
        rounded up; a source's from its hash bits 24..; 0-based."""
        v0 = self.v[ids].astype(np.float64)
        v1 = v_end[ids].astype(np.float64)
        th = self.th[ids].astype(np.float64)
        ahead = v0 < th
        s = np.ones(ids.size)
        s[ahead] = np.ceil((th[ahead] - v0[ahead]) * self.n_sub / (v1[ahead] - v0[ahead]))
        subs = (np.clip(s, 1, self.n_sub) - 1).astype(np.int64)
        rand = ((h[ids] >> np.uint64(24)) & np.uint64(self.n_sub - 1)).astype(np.int64)
        return np.where(self.is_source[ids], rand, subs)

    def _membrane_sub(self, h, in0, in1, inv, total, active):
        c, v = self.c, self.v
        if self.fixed:
            mask = np.uint64((1 << self.profile.frac_bits) - 1)
            x = v.astype(np.int64)
            exp_v = self._round(c[0] * x + c[1] * self.iex.astype(np.int64)
                                + c[2] * self.iin.astype(np.int64) + c[5] + inv,
                                exp_dither(h, 0, self.profile.frac_bits))
            delta_v = np.maximum(self._round(c[0] * x + c[5] + total, h & mask), self.vmin)
        else:
            x = v
            exp_v = c[0] * x + c[1] * self.iex + c[2] * self.iin + c[5] + inv
            delta_v = np.maximum(c[0] * x + c[5] + total, self.vmin)
        return np.where(active, np.where(self.is_exp, exp_v, delta_v), x)

    def _currents_sub(self, h, in0, in1):
        c = self.c
        if self.fixed:
            f = self.profile.frac_bits
            ie = self._round(c[3] * self.iex.astype(np.int64) + in0, exp_dither(h, 1, f))
            ii = self._round(c[4] * self.iin.astype(np.int64) + in1, exp_dither(h, 2, f))
            ie = np.where(self.is_exp, ie, 0)
            ii = np.where(self.is_exp, ii, 0)
            self.iex = self._saturate(ie, 1).astype(self.profile.state_dtype)
            self.iin = self._saturate(ii, 2).astype(self.profile.state_dtype)
        else:
            self.iex = np.where(self.is_exp, c[3] * self.iex + in0, self.iex)
            self.iin = np.where(self.is_exp, c[4] * self.iin + in1, self.iin)

    def _deliver_sub(self, ids, subs, t):
        top = self.n_sub - 1
        for j, sub in zip(ids, subs, strict=True):
            a, b = self.row[j], self.row[j + 1]
            if a == b:
                continue
            late = self.s_delay[a:b] + sub
            slots = (t + (late >> self.k)) % self.n_slots
            left = top - (late & top)
            post, rec = self.s_post[a:b], self.s_rec[a:b]
            pop = self.pop_of[post]
            val = self.s_val[a:b]
            np.add.at(self.ring, (slots, rec, post), val * self.tab[pop, rec, left])
            np.add.at(self.ring, (slots, np.full_like(rec, 2), post),
                      val * self.tab[pop, 2 + rec, left])

    def step(self):
        """One step for every neuron; returns the ids that spiked, ascending."""
        n, t, prof = self.net.n_neurons, self.t, self.profile
        slot = t % self.n_slots
        in_ex, in_in = self.ring[slot, 0].copy(), self.ring[slot, 1].copy()
        self.ring[slot] = 0
        from brainmac import rng
        h = step_hash(rng.stream_key(self.seed, rng.STREAM_STEP), n, t)
        u = ((h >> np.uint64(32)).astype(np.float64) + 0.5) / 4294967296.0
        counts = np.zeros(n, np.int64)
        now = t * self.dt
        on = (self.drive_on[:, 0] <= now + 1e-9 * self.dt) & (now < self.drive_on[:, 1]
                                                              - 1e-9 * self.dt)
        for lam, cdf in self.cdfs.items():
            sel = (self.drive_lambda == lam) & on
            counts[sel] = np.searchsorted(cdf, u[sel], side="right")
        if self.fixed:
            drive = counts * self.drive_w.astype(np.int64)
            in_ex = in_ex.astype(np.int64) + np.where(self.drive_rec == 0, drive, 0)
            in_in = in_in.astype(np.int64) + np.where(self.drive_rec == 1, drive, 0)
        else:
            drive = counts.astype(prof.ring_dtype) * self.drive_w
            in_ex = np.where(self.drive_rec == 0, in_ex + drive, in_ex)
            in_in = np.where(self.drive_rec == 1, in_in + drive, in_in)
        active = self.r == 0
        self.r[~active] -= 1
        v_new = self._membrane(h, in_ex, in_in, active)
        self._currents(h, in_ex, in_in)
        if self.fixed:
            v_new = self._saturate(v_new, 0)
        spiking = v_new >= self.th
        v_new[spiking] = self.reset[spiking]
        self.r[spiking] = self.ref[spiking]
        self.v = v_new.astype(prof.state_dtype)
        ids = np.flatnonzero(spiking)
        self._deliver(ids, t)
        self.t += 1
        return ids

    def _membrane(self, h, in_ex, in_in, active):
        c, v = self.c, self.v
        mask = np.uint64((1 << self.profile.frac_bits) - 1) if self.fixed else None
        if self.fixed:
            x = v.astype(np.int64)
            exp_v = self._round(c[0] * x + c[1] * self.iex.astype(np.int64)
                                + c[2] * self.iin.astype(np.int64) + c[5],
                                exp_dither(h, 0, self.profile.frac_bits))
            delta_v = np.maximum(self._round(c[0] * x + c[5], h & mask) + in_ex + in_in,
                                 self.vmin)
        else:
            x = v
            exp_v = c[0] * x + c[1] * self.iex + c[2] * self.iin + c[5]
            delta_v = np.maximum(c[0] * x + c[5] + in_ex + in_in, self.vmin)
        new = np.where(self.is_exp, exp_v, delta_v)
        return np.where(active, new, x)

    def _currents(self, h, in_ex, in_in):
        c = self.c
        if self.fixed:
            f = self.profile.frac_bits
            ie = self._round(c[3] * self.iex.astype(np.int64), exp_dither(h, 1, f)) + in_ex
            ii = self._round(c[4] * self.iin.astype(np.int64), exp_dither(h, 2, f)) + in_in
            ie = np.where(self.is_exp, ie, 0)
            ii = np.where(self.is_exp, ii, 0)
            self.iex = self._saturate(ie, 1).astype(self.profile.state_dtype)
            self.iin = self._saturate(ii, 2).astype(self.profile.state_dtype)
        else:
            self.iex = np.where(self.is_exp, c[3] * self.iex + in_ex, self.iex)
            self.iin = np.where(self.is_exp, c[4] * self.iin + in_in, self.iin)

    def _deliver(self, ids, t):
        for j in ids:
            a, b = self.row[j], self.row[j + 1]
            if a == b:
                continue
            slots = (t + self.s_delay[a:b]) % self.n_slots
            np.add.at(self.ring, (slots, self.s_rec[a:b], self.s_post[a:b]), self.s_val[a:b])

    def run(self, n_steps):
        """Run ``n_steps``; returns (gid, step) arrays of all spikes in (step, gid) order;
        with sub-steps (gid, tick) in (tick, gid) order, tick = step * 2**k + offset."""
        gids, steps = [], []
        for _ in range(n_steps):
            t = self.t
            if self.k:
                ids, subs = self.step_sub()
                steps.append((t << self.k) + subs)
            else:
                ids = self.step()
                steps.append(np.full(ids.size, t, np.int64))
            gids.append(ids)
        return np.concatenate(gids), np.concatenate(steps)
