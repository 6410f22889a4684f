//! LuminaQuant native kernels (Rust). Mirrors lq_engine/kernels/backends/numba_backend.py and
//! lq_engine/kernels/rules.py operation for operation (Rust never contracts to FMA and has no
//! fast-math), so results equal the numba backend bit for bit. Batched ABI, sets split over
//! scoped threads by contiguous chunks; a set is never split.

use std::slice;

const N_INT: usize = 9;
const N_FLOAT: usize = 5;
const N_ACC: usize = 13;
const CLOSE_ROW: usize = 1;
const R_OPEN: usize = 0;
const P_R: usize = 1;
const P_R2: usize = 2;
const P_D2: usize = 3;
const N_RETS: usize = 4;

#[no_mangle]
pub extern "C" fn lq_abi_version() -> i32 {
    2
}

/// A rule program unpacked: bank rows as slices, thresholds, stop factor.
struct Prog<'a> {
    rows: [&'a [f64]; 8],
    stop: Option<&'a [f64]>,
    close: &'a [f64],
    t: [f64; 4],
    k: f64,
}

fn unpack<'a>(bank: &'a [f64], n: usize, ip: &[i64], fp: &[f64]) -> Prog<'a> {
    let row = |r: i64| &bank[r as usize * n..(r as usize + 1) * n];
    Prog {
        rows: [row(ip[0]), row(ip[1]), row(ip[2]), row(ip[3]), row(ip[4]), row(ip[5]), row(ip[6]), row(ip[7])],
        stop: if ip[8] >= 0 { Some(row(ip[8])) } else { None },
        close: row(CLOSE_ROW as i64),
        t: [fp[0], fp[1], fp[2], fp[3]],
        k: fp[4],
    }
}

/// rules.rule_step
#[inline(always)]
fn rule_step(p: &Prog, i: usize, mut pos: i64, ext: &mut f64) -> i64 {
    let b = |r: usize| p.rows[r][i];
    let mut blocked = 0;
    if pos == 1 {
        let mut out = b(2) - b(3) > p.t[1];
        if let Some(st) = p.stop {
            let close = p.close[i];
            if close > *ext {
                *ext = close;
            }
            if !out {
                out = close < *ext - p.k * st[i];
            }
        }
        if out {
            pos = 0;
            blocked = 1;
        }
    } else if pos == -1 {
        let mut out = b(6) - b(7) > p.t[3];
        if let Some(st) = p.stop {
            let close = p.close[i];
            if close < *ext {
                *ext = close;
            }
            if !out {
                out = close > *ext + p.k * st[i];
            }
        }
        if out {
            pos = 0;
            blocked = -1;
        }
    }
    if pos == 0 {
        if blocked != 1 && b(0) - b(1) > p.t[0] {
            pos = 1;
            *ext = p.close[i];
        } else if blocked != -1 && b(4) - b(5) > p.t[2] {
            pos = -1;
            *ext = p.close[i];
        }
    }
    pos
}

/// kernels/fills.change_fills: (E, cash after the close leg, cash after, units after)
#[inline(always)]
fn change_fills(cash: f64, units: f64, held: i64, target: i64, o: f64, cost: f64) -> (f64, f64, f64, f64) {
    let (e, cf) = if held == 0 { (cash, 0.0) } else { let e = cash + units * o; (e, cost * units.abs() * o) };
    let cash1 = if held == 0 { cash } else { e - cf };
    let (mut cash2, mut units2) = (cash1, 0.0);
    if target != 0 && e > 0.0 {
        let fo = cost * target.abs() as f64 * e;
        let q = if held != 0 { target.abs() as f64 * (e - cf - fo) / o } else { target.abs() as f64 * (e - fo) / o };
        cash2 = cash1 - target as f64 * q * o - fo;
        units2 = target as f64 * q;
    }
    (e, cash1, cash2, units2)
}

const W: usize = 4; // bars per block on the fast path

/// Unchecked read: every index below is < n, the length of each row (checked once by `unpack`).
#[inline(always)]
fn at(a: &[f64], i: usize) -> f64 {
    debug_assert!(i < a.len());
    unsafe { *a.get_unchecked(i) }
}

/// numba_backend._fires: any a[i] - b[i] > t for i in j..j+3, without branches
#[inline(always)]
fn fires(a: &[f64], b: &[f64], t: f64, j: usize) -> bool {
    (at(a, j) - at(b, j) > t) | (at(a, j + 1) - at(b, j + 1) > t) | (at(a, j + 2) - at(b, j + 2) > t)
        | (at(a, j + 3) - at(b, j + 3) > t)
}

#[inline(always)]
fn down2(r: f64) -> f64 {
    if r < 0.0 {
        r * r
    } else {
        0.0
    }
}

#[inline(always)]
fn dmin(a: f64, b: f64) -> f64 {
    if a < b {
        a
    } else {
        b
    }
}

#[inline(always)]
fn dmax(a: f64, b: f64) -> f64 {
    if a > b {
        a
    } else {
        b
    }
}

/// Drawdown state: numba_backend._dd_bar
struct Dd {
    peak: f64,
    trough: f64,
    maxdd: f64,
    last_pk: i64,
    maxdur: i64,
}

impl Dd {
    #[inline(always)]
    fn bar(&mut self, x: f64, j: i64) {
        self.trough = if x < self.trough { x } else { self.trough };
        if x >= self.peak {
            if self.trough < self.peak {
                let dd = (self.peak - self.trough) / self.peak;
                if dd > self.maxdd {
                    self.maxdd = dd;
                }
                if j - self.last_pk - 1 > self.maxdur {
                    self.maxdur = j - self.last_pk - 1;
                }
            }
            self.peak = x;
            self.trough = x;
            self.last_pk = j;
        }
    }
}

/// kernels.groups: the group of bar j among the ends `ge` (binary search)
#[inline(always)]
fn group_of(ge: &[i64], j: i64) -> usize {
    let (mut lo, mut hi) = (0usize, ge.len() - 1);
    while lo < hi {
        let mid = (lo + hi) >> 1;
        if ge[mid] <= j {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// kernels.groups.book: the return of bar j into its group (`gacc`: ng sums of r, then ng of r^2)
#[inline(always)]
fn book(ge: &[i64], gacc: &mut [f64], j: usize, r: f64) {
    let ng = ge.len();
    if ng > 0 {
        let g = group_of(ge, j as i64);
        gacc[g] += r;
        gacc[ng + g] += r * r;
    }
}

/// kernels.groups.book_prefix: returns of bars lo+1..hi from the prefix rows, split at the group ends
fn book_prefix(ge: &[i64], gacc: &mut [f64], rets: &[f64], n: usize, lo: usize, hi: usize) {
    let ng = ge.len();
    if ng == 0 {
        return;
    }
    let mut j = lo;
    while j < hi {
        let g = group_of(ge, (j + 1) as i64);
        let mut e = ge[g] - 1;
        if e > hi as i64 || g == ng - 1 {
            e = hi as i64;
        }
        let e = e as usize;
        gacc[g] += rets[P_R * n + e] - rets[P_R * n + j];
        gacc[ng + g] += rets[P_R2 * n + e] - rets[P_R2 * n + j];
        j = e;
    }
}

/// numba_backend.run_program (same fast path, same order of every operation)
#[allow(clippy::too_many_arguments)]
fn run_program(bank: &[f64], n: usize, rets: &[f64], ip: &[i64], fp: &[f64], cost: f64, acc: &mut [f64],
               ge: &[i64], gacc: &mut [f64]) {
    let r = |row: usize, j: usize| rets[row * n + j];
    let (mut pos, mut held): (i64, i64) = (0, 0);
    let (mut ext, mut cash, mut units, mut eq) = (0.0f64, 1.0f64, 0.0f64, 1.0f64);
    let (mut s1, mut s2, mut sd, mut tgain, mut tloss) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let (mut twin, mut trades, mut exposed, mut start, mut last_chg, mut turnover): (i64, i64, i64, i64, i64, i64) =
        (0, 0, 0, 0, 0, 0);
    let mut d = Dd { peak: 1.0, trough: 1.0, maxdd: 0.0, last_pk: 0, maxdur: 0 };
    let mut v0 = 1.0f64;
    let p = unpack(bank, n, ip, fp);
    let cl = p.close;
    let op = &rets[R_OPEN * n..(R_OPEN + 1) * n];
    let [ela, elb, xla, xlb, esa, esb, xsa, xsb] = p.rows;
    if n > 0 {
        pos = rule_step(&p, 0, pos, &mut ext);
    }
    let mut j = 1usize;
    while j < n {
        if pos == held && j + W <= n {
            if held == 0 {
                if !(fires(ela, elb, p.t[0], j) | fires(esa, esb, p.t[2], j)) {
                    j += W;
                    continue;
                }
            } else if p.stop.is_none() {
                let fired = if held == 1 { fires(xla, xlb, p.t[1], j) } else { fires(xsa, xsb, p.t[3], j) };
                if !fired {
                    let e0 = cash + units * at(cl, j);
                    let e1 = cash + units * at(cl, j + 1);
                    let e2 = cash + units * at(cl, j + 2);
                    let e3 = cash + units * at(cl, j + 3);
                    if held == -1 {
                        let (r0, r1, r2, r3) = (e0 / eq - 1.0, e1 / e0 - 1.0, e2 / e1 - 1.0, e3 / e2 - 1.0);
                        s1 += r0;
                        s1 += r1;
                        s1 += r2;
                        s1 += r3;
                        s2 += r0 * r0;
                        s2 += r1 * r1;
                        s2 += r2 * r2;
                        s2 += r3 * r3;
                        sd += down2(r0);
                        sd += down2(r1);
                        sd += down2(r2);
                        sd += down2(r3);
                        book(ge, gacc, j, r0);
                        book(ge, gacc, j + 1, r1);
                        book(ge, gacc, j + 2, r2);
                        book(ge, gacc, j + 3, r3);
                    }
                    if dmax(dmax(e0, e1), dmax(e2, e3)) < d.peak {
                        d.trough = dmin(d.trough, dmin(dmin(e0, e1), dmin(e2, e3)));
                    } else {
                        let ji = j as i64;
                        d.bar(e0, ji);
                        d.bar(e1, ji + 1);
                        d.bar(e2, ji + 2);
                        d.bar(e3, ji + 3);
                    }
                    eq = e3;
                    j += W;
                    continue;
                }
            }
        }
        // the single-bar step
        let ji = j as i64;
        if pos != held {
            if eq >= d.peak {
                d.last_pk = ji - 1;
            }
            let lc = last_chg as usize;
            if held == 1 {
                s1 += r(P_R, j - 1) - r(P_R, lc);
                s2 += r(P_R2, j - 1) - r(P_R2, lc);
                sd += r(P_D2, j - 1) - r(P_D2, lc);
                book_prefix(ge, gacc, rets, n, lc, j - 1);
            }
            let (e, cash1, c2, u2) = change_fills(cash, units, held, pos, op[j], cost);
            cash = c2;
            units = u2;
            if held != 0 {
                exposed += ji - start;
                let tr = cash1 / v0 - 1.0;
                if tr > 0.0 {
                    tgain += tr;
                    twin += 1;
                } else if tr < 0.0 {
                    tloss -= tr;
                }
            }
            let now = if units != 0.0 { pos } else { 0 };
            turnover += (now - held).abs();
            if now != 0 {
                trades += 1;
                start = ji;
                v0 = cash1;
            }
            held = now;
            last_chg = ji;
            let prev = eq;
            eq = if held != 0 { cash + units * cl[j] } else { cash };
            let ret = eq / prev - 1.0;
            s1 += ret;
            s2 += ret * ret;
            sd += down2(ret);
            book(ge, gacc, j, ret);
            if e <= 0.0 {
                // bankrupt: flat for good, equity frozen
                d.trough = if eq < d.trough { eq } else { d.trough };
                break;
            }
            d.bar(eq, ji);
        } else if held != 0 {
            let prev = eq;
            eq = cash + units * cl[j];
            if held == -1 {
                let ret = eq / prev - 1.0;
                s1 += ret;
                s2 += ret * ret;
                sd += down2(ret);
                book(ge, gacc, j, ret);
            }
            d.bar(eq, ji);
        }
        pos = rule_step(&p, j, pos, &mut ext);
        j += 1;
    }
    let (peak, trough, mut maxdd, last_pk, mut maxdur) = (d.peak, d.trough, d.maxdd, d.last_pk, d.maxdur);
    let ni = n as i64;
    if held != 0 {
        let lc = last_chg as usize;
        if held == 1 {
            s1 += r(P_R, n - 1) - r(P_R, lc);
            s2 += r(P_R2, n - 1) - r(P_R2, lc);
            sd += r(P_D2, n - 1) - r(P_D2, lc);
            book_prefix(ge, gacc, rets, n, lc, n - 1);
        }
        exposed += ni - start;
        let tr = eq / v0 - 1.0;
        if tr > 0.0 {
            tgain += tr;
            twin += 1;
        } else if tr < 0.0 {
            tloss -= tr;
        }
    }
    if trough < peak {
        let dd = (peak - trough) / peak;
        if dd > maxdd {
            maxdd = dd;
        }
        if ni - 1 - last_pk > maxdur {
            maxdur = ni - 1 - last_pk;
        }
    }
    let vals = [
        eq, s1, s2, sd, tgain, twin as f64, tloss, maxdd, maxdur as f64, trades as f64, exposed as f64,
        turnover as f64, if ni > 1 { (ni - 1) as f64 } else { 0.0 },
    ];
    acc.copy_from_slice(&vals);
}

/// numba_backend._dd_step
#[inline(always)]
fn dd_step(x: f64, peak: &mut f64, trough: &mut f64, maxdd: &mut f64) {
    *trough = if x < *trough { x } else { *trough };
    if x >= *peak {
        if *trough < *peak {
            let dd = (*peak - *trough) / *peak;
            if dd > *maxdd {
                *maxdd = dd;
            }
        }
        *peak = x;
        *trough = x;
    }
}

/// numba_backend.metric_eval: four interleaved partial sums, same order
fn metric_eval(e: &[f64], ppy: f64, out: &mut [f64]) {
    let n = e.len();
    let (mut a0, mut a1, mut a2, mut a3) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let (mut q0, mut q1, mut q2, mut q3) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let (mut peak, mut trough, mut maxdd) = (e[0], e[0], 0.0f64);
    let mut i = 1usize;
    while i + 3 < n {
        let r0 = (e[i] - e[i - 1]) / e[i - 1];
        let r1 = (e[i + 1] - e[i]) / e[i];
        let r2 = (e[i + 2] - e[i + 1]) / e[i + 1];
        let r3 = (e[i + 3] - e[i + 2]) / e[i + 2];
        a0 += r0;
        a1 += r1;
        a2 += r2;
        a3 += r3;
        q0 += r0 * r0;
        q1 += r1 * r1;
        q2 += r2 * r2;
        q3 += r3 * r3;
        for t in 0..4 {
            dd_step(e[i + t], &mut peak, &mut trough, &mut maxdd);
        }
        i += 4;
    }
    while i < n {
        let r0 = (e[i] - e[i - 1]) / e[i - 1];
        a0 += r0;
        q0 += r0 * r0;
        dd_step(e[i], &mut peak, &mut trough, &mut maxdd);
        i += 1;
    }
    if trough < peak {
        let dd = (peak - trough) / peak;
        if dd > maxdd {
            maxdd = dd;
        }
    }
    let s1 = (a0 + a1) + (a2 + a3);
    let s2 = (q0 + q1) + (q2 + q3);
    let m = n as i64 - 1;
    let mut sharpe = 0.0;
    if m > 1 {
        let mf = m as f64;
        let var = (s2 - s1 * s1 / mf) / (m - 1) as f64;
        if var > 0.0 {
            sharpe = (s1 / mf) / var.sqrt() * ppy.sqrt();
        }
    }
    out[0] = sharpe;
    out[1] = (e[n - 1] / e[0]).powf(1.0 / (n as f64 / ppy)) - 1.0;
    out[2] = maxdd;
}

fn chunks<F: Fn(usize) + Sync>(n_items: usize, n_threads: i32, f: F) {
    let nth = (n_threads.max(1) as usize).min(n_items.max(1));
    std::thread::scope(|s| {
        for t in 1..nth {
            let f = &f;
            s.spawn(move || (n_items * t / nth..n_items * (t + 1) / nth).for_each(f));
        }
        (0..n_items / nth).for_each(&f);
    });
}

struct SendPtr(*mut f64);
unsafe impl Sync for SendPtr {}
unsafe impl Send for SendPtr {}

/// # Safety
/// Pointers must reference arrays of the documented shapes: bank (n_rows, n), rets (4, n),
/// ip (n_sets, 9) i64, fp (n_sets, 5), out (n_sets, 13), all row-major.
#[no_mangle]
pub unsafe extern "C" fn lq_sweep(
    bank: *const f64, n_rows: i64, n: i64, rets: *const f64, ip: *const i64, fp: *const f64, n_sets: i64,
    cost: f64, out: *mut f64, n_threads: i32,
) {
    let (n, ns) = (n as usize, n_sets as usize);
    let bank = slice::from_raw_parts(bank, n_rows as usize * n);
    let rets = slice::from_raw_parts(rets, N_RETS * n);
    let ip = slice::from_raw_parts(ip, ns * N_INT);
    let fp = slice::from_raw_parts(fp, ns * N_FLOAT);
    let outp = SendPtr(out);
    chunks(ns, n_threads, |k| {
        let p = &outp;
        // each k writes only its own row
        let acc = slice::from_raw_parts_mut(p.0.add(k * N_ACC), N_ACC);
        run_program(bank, n, rets, &ip[k * N_INT..(k + 1) * N_INT], &fp[k * N_FLOAT..(k + 1) * N_FLOAT], cost, acc,
                    &[], &mut []);
    });
}

/// `lq_sweep` plus per-group sums (kernels.groups).
///
/// # Safety
/// As `lq_sweep`, and `ge` has `ng` group ends, `gout` room for (n_sets, 2 * ng), zeroed.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn lq_sweep_groups(
    bank: *const f64, n_rows: i64, n: i64, rets: *const f64, ip: *const i64, fp: *const f64, n_sets: i64,
    cost: f64, out: *mut f64, n_threads: i32, ge: *const i64, ng: i64, gout: *mut f64,
) {
    let (n, ns, ngu) = (n as usize, n_sets as usize, ng as usize);
    let bank = slice::from_raw_parts(bank, n_rows as usize * n);
    let rets = slice::from_raw_parts(rets, N_RETS * n);
    let ip = slice::from_raw_parts(ip, ns * N_INT);
    let fp = slice::from_raw_parts(fp, ns * N_FLOAT);
    let ge: &[i64] = if ngu > 0 { slice::from_raw_parts(ge, ngu) } else { &[] };
    let (outp, goutp) = (SendPtr(out), SendPtr(gout));
    chunks(ns, n_threads, |k| {
        let (p, q) = (&outp, &goutp);
        // each k writes only its own rows
        let acc = slice::from_raw_parts_mut(p.0.add(k * N_ACC), N_ACC);
        let gacc: &mut [f64] = if ngu > 0 { slice::from_raw_parts_mut(q.0.add(k * 2 * ngu), 2 * ngu) } else { &mut [] };
        run_program(bank, n, rets, &ip[k * N_INT..(k + 1) * N_INT], &fp[k * N_FLOAT..(k + 1) * N_FLOAT], cost, acc,
                    ge, gacc);
    });
}

/// # Safety
/// `e` has `n` values; `out` has room for (n_evals, 3).
#[no_mangle]
pub unsafe extern "C" fn lq_metric_batch(e: *const f64, n: i64, n_evals: i64, ppy: f64, out: *mut f64, n_threads: i32) {
    let e = slice::from_raw_parts(e, n as usize);
    let outp = SendPtr(out);
    chunks(n_evals as usize, n_threads, |k| {
        let p = &outp;
        let o = slice::from_raw_parts_mut(p.0.add(k * 3), 3);
        metric_eval(e, ppy, o);
    });
}
