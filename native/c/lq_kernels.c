/* LuminaQuant native kernels (C). Mirrors lq_engine/kernels/backends/numba_backend.py and
 * lq_engine/kernels/rules.py operation for operation (same order, no fast-math, no FMA
 * contraction: build with -ffp-contract=off), so results equal the numba backend bit for bit.
 *
 * Batched ABI: one call evaluates many parameter sets over one series (or many metric evals of
 * one curve), split over n_threads pthreads by set index; a set is never split, so results do
 * not depend on the thread count. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#define LQ_ABI_VERSION 2
#define N_INT 9
#define N_FLOAT 5
#define N_ACC 13
#define CLOSE_ROW 1
#define R_OPEN 0
#define P_R 1
#define P_R2 2
#define P_D2 3

int lq_abi_version(void) { return LQ_ABI_VERSION; }

#define R(row, i) rets[(int64_t)(row) * n + (i)]

/* rules.rule_step on an unpacked program: row pointers into the bank, thresholds, stop factor */
typedef struct {
    const double *ela, *elb, *xla, *xlb, *esa, *esb, *xsa, *xsb, *stop, *close;
    double elt, xlt, est, xst, k;
} prog_t;

static inline prog_t unpack(const double *bank, int64_t n, const int64_t *ip, const double *fp) {
    prog_t p;
    p.ela = bank + ip[0] * n; p.elb = bank + ip[1] * n; p.xla = bank + ip[2] * n; p.xlb = bank + ip[3] * n;
    p.esa = bank + ip[4] * n; p.esb = bank + ip[5] * n; p.xsa = bank + ip[6] * n; p.xsb = bank + ip[7] * n;
    p.stop = ip[8] >= 0 ? bank + ip[8] * n : NULL;
    p.close = bank + CLOSE_ROW * n;
    p.elt = fp[0]; p.xlt = fp[1]; p.est = fp[2]; p.xst = fp[3]; p.k = fp[4];
    return p;
}

static inline int rule_step(const prog_t *p, int64_t i, int pos, double *ext) {
    int blocked = 0;
    if (pos == 1) {
        int out = p->xla[i] - p->xlb[i] > p->xlt;
        if (p->stop) {
            double close = p->close[i];
            if (close > *ext) *ext = close;
            if (!out) out = close < *ext - p->k * p->stop[i];
        }
        if (out) { pos = 0; blocked = 1; }
    } else if (pos == -1) {
        int out = p->xsa[i] - p->xsb[i] > p->xst;
        if (p->stop) {
            double close = p->close[i];
            if (close < *ext) *ext = close;
            if (!out) out = close > *ext + p->k * p->stop[i];
        }
        if (out) { pos = 0; blocked = -1; }
    }
    if (pos == 0) {
        if (blocked != 1 && p->ela[i] - p->elb[i] > p->elt) { pos = 1; *ext = p->close[i]; }
        else if (blocked != -1 && p->esa[i] - p->esb[i] > p->est) { pos = -1; *ext = p->close[i]; }
    }
    return pos;
}

/* kernels/fills.change_fills: (E, cash after the close leg) returned, cash and units updated */
static inline double change_fills(double *cash, double *units, int held, int target, double o, double cost,
                                  double *cash1_out) {
    double e, cash1, cf = 0.0;
    if (held == 0) {
        e = *cash;
        cash1 = *cash;
    } else {
        e = *cash + *units * o;
        cf = cost * fabs(*units) * o;
        cash1 = e - cf;
    }
    double cash2 = cash1, units2 = 0.0;
    if (target != 0 && e > 0.0) {
        double fo = cost * (double)abs(target) * e;
        double q = held != 0 ? (double)abs(target) * (e - cf - fo) / o : (double)abs(target) * (e - fo) / o;
        cash2 = cash1 - (double)target * q * o - fo;
        units2 = (double)target * q;
    }
    *cash = cash2;
    *units = units2;
    *cash1_out = cash1;
    return e;
}

#define W 4 /* bars per block on the fast path */

/* numba_backend._fires: any a[i] - b[i] > t for i in j..j+3, without branches */
static inline int fires(const double *a, const double *b, double t, int64_t j) {
    return (a[j] - b[j] > t) | (a[j + 1] - b[j + 1] > t) | (a[j + 2] - b[j + 2] > t) | (a[j + 3] - b[j + 3] > t);
}

static inline double down2(double r) { return r < 0.0 ? r * r : 0.0; }
static inline double dmin(double a, double b) { return a < b ? a : b; }
static inline double dmax(double a, double b) { return a > b ? a : b; }

/* numba_backend._dd_bar */
#define DD_BAR(xv, jv)                                                     \
    do {                                                                   \
        double x_ = (xv);                                                  \
        int64_t j_ = (jv);                                                 \
        trough = x_ < trough ? x_ : trough;                                \
        if (x_ >= peak) {                                                  \
            if (trough < peak) {                                           \
                double dd = (peak - trough) / peak;                        \
                if (dd > maxdd) maxdd = dd;                                \
                if (j_ - last_pk - 1 > maxdur) maxdur = j_ - last_pk - 1;  \
            }                                                              \
            peak = x_;                                                     \
            trough = x_;                                                   \
            last_pk = j_;                                                  \
        }                                                                  \
    } while (0)

/* kernels.groups: per-group sums of r and r^2 (ge: the ng group ends, gacc: ng sums of r then ng
 * of r^2); group_of, book and book_prefix in the same order of operations */
static inline int64_t group_of(const int64_t *ge, int64_t ng, int64_t j) {
    int64_t lo = 0, hi = ng - 1;
    while (lo < hi) {
        int64_t mid = (lo + hi) >> 1;
        if (ge[mid] <= j) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

#define BOOK(jv, rv)                                           \
    do {                                                       \
        if (ng) {                                              \
            int64_t g_ = group_of(ge, ng, (jv));               \
            double r_ = (rv);                                  \
            gacc[g_] += r_;                                    \
            gacc[ng + g_] += r_ * r_;                          \
        }                                                      \
    } while (0)

static inline void book_prefix(const int64_t *ge, int64_t ng, double *gacc, const double *rets, int64_t n,
                               int64_t lo, int64_t hi) {
    int64_t j = lo;
    while (j < hi) {
        int64_t g = group_of(ge, ng, j + 1);
        int64_t e = ge[g] - 1;
        if (e > hi || g == ng - 1) e = hi;
        gacc[g] += R(P_R, e) - R(P_R, j);
        gacc[ng + g] += R(P_R2, e) - R(P_R2, j);
        j = e;
    }
}

/* numba_backend.run_program (same fast path, same order of every operation) */
static void run_program(const double *bank, int64_t n, const double *rets, const int64_t *ip,
                        const double *fp, double cost, double *acc, const int64_t *ge, int64_t ng, double *gacc) {
    int pos = 0, held = 0;
    double ext = 0.0, cash = 1.0, units = 0.0, eq = 1.0, s1 = 0.0, s2 = 0.0, sd = 0.0, tgain = 0.0, tloss = 0.0;
    int64_t twin = 0, last_pk = 0, maxdur = 0, trades = 0, exposed = 0, start = 0, last_chg = 0, turnover = 0;
    double peak = 1.0, trough = 1.0, maxdd = 0.0, v0 = 1.0;
    const prog_t p = unpack(bank, n, ip, fp);
    const double *cl = p.close, *op = rets + R_OPEN * n;
    if (n > 0) pos = rule_step(&p, 0, pos, &ext);
    int64_t j = 1;
    while (j < n) {
        if (pos == held && j + W <= n) {
            if (held == 0) {
                if (!(fires(p.ela, p.elb, p.elt, j) | fires(p.esa, p.esb, p.est, j))) {
                    j += W;
                    continue;
                }
            } else if (!p.stop) {
                int fired = held == 1 ? fires(p.xla, p.xlb, p.xlt, j) : fires(p.xsa, p.xsb, p.xst, j);
                if (!fired) {
                    double e0 = cash + units * cl[j], e1 = cash + units * cl[j + 1];
                    double e2 = cash + units * cl[j + 2], e3 = cash + units * cl[j + 3];
                    if (held == -1) {
                        double r0 = e0 / eq - 1.0, r1 = e1 / e0 - 1.0, r2 = e2 / e1 - 1.0, r3 = e3 / e2 - 1.0;
                        s1 += r0; s1 += r1; s1 += r2; s1 += r3;
                        s2 += r0 * r0; s2 += r1 * r1; s2 += r2 * r2; s2 += r3 * r3;
                        sd += down2(r0); sd += down2(r1); sd += down2(r2); sd += down2(r3);
                        BOOK(j, r0); BOOK(j + 1, r1); BOOK(j + 2, r2); BOOK(j + 3, r3);
                    }
                    if (dmax(dmax(e0, e1), dmax(e2, e3)) < peak) {
                        trough = dmin(trough, dmin(dmin(e0, e1), dmin(e2, e3)));
                    } else {
                        DD_BAR(e0, j); DD_BAR(e1, j + 1); DD_BAR(e2, j + 2); DD_BAR(e3, j + 3);
                    }
                    eq = e3;
                    j += W;
                    continue;
                }
            }
        }
        /* the single-bar step */
        if (pos != held) {
            if (eq >= peak) last_pk = j - 1;
            if (held == 1) {
                s1 += R(P_R, j - 1) - R(P_R, last_chg);
                s2 += R(P_R2, j - 1) - R(P_R2, last_chg);
                sd += R(P_D2, j - 1) - R(P_D2, last_chg);
                if (ng) book_prefix(ge, ng, gacc, rets, n, last_chg, j - 1);
            }
            double cash1;
            double e = change_fills(&cash, &units, held, pos, op[j], cost, &cash1);
            if (held != 0) {
                exposed += j - start;
                double tr = cash1 / v0 - 1.0;
                if (tr > 0.0) { tgain += tr; twin += 1; }
                else if (tr < 0.0) { tloss -= tr; }
            }
            int now = units != 0.0 ? pos : 0;
            turnover += abs(now - held);
            if (now != 0) {
                trades += 1;
                start = j;
                v0 = cash1;
            }
            held = now;
            last_chg = j;
            double prev = eq;
            eq = held != 0 ? cash + units * cl[j] : cash;
            double ret = eq / prev - 1.0;
            s1 += ret;
            s2 += ret * ret;
            sd += down2(ret);
            BOOK(j, ret);
            if (e <= 0.0) { /* bankrupt: flat for good, equity frozen */
                trough = eq < trough ? eq : trough;
                break;
            }
            DD_BAR(eq, j);
        } else if (held != 0) {
            double prev = eq;
            eq = cash + units * cl[j];
            if (held == -1) {
                double ret = eq / prev - 1.0;
                s1 += ret;
                s2 += ret * ret;
                sd += down2(ret);
                BOOK(j, ret);
            }
            DD_BAR(eq, j);
        }
        pos = rule_step(&p, j, pos, &ext);
        j += 1;
    }
    if (held != 0) {
        if (held == 1) {
            s1 += R(P_R, n - 1) - R(P_R, last_chg);
            s2 += R(P_R2, n - 1) - R(P_R2, last_chg);
            sd += R(P_D2, n - 1) - R(P_D2, last_chg);
            if (ng) book_prefix(ge, ng, gacc, rets, n, last_chg, n - 1);
        }
        exposed += n - start;
        double tr = eq / v0 - 1.0;
        if (tr > 0.0) { tgain += tr; twin += 1; }
        else if (tr < 0.0) { tloss -= tr; }
    }
    if (trough < peak) {
        double dd = (peak - trough) / peak;
        if (dd > maxdd) maxdd = dd;
        if (n - 1 - last_pk > maxdur) maxdur = n - 1 - last_pk;
    }
    acc[0] = eq; acc[1] = s1; acc[2] = s2; acc[3] = sd; acc[4] = tgain; acc[5] = (double)twin;
    acc[6] = tloss; acc[7] = maxdd; acc[8] = (double)maxdur; acc[9] = (double)trades;
    acc[10] = (double)exposed; acc[11] = (double)turnover; acc[12] = (double)(n > 1 ? n - 1 : 0);
}

/* numba_backend._dd_step */
#define DD_STEP(xv)                                   \
    do {                                              \
        double x_ = (xv);                             \
        trough = x_ < trough ? x_ : trough;           \
        if (x_ >= peak) {                             \
            if (trough < peak) {                      \
                double dd = (peak - trough) / peak;   \
                if (dd > maxdd) maxdd = dd;           \
            }                                         \
            peak = x_;                                \
            trough = x_;                              \
        }                                             \
    } while (0)

/* numba_backend.metric_eval: four interleaved partial sums, same order */
static void metric_eval(const double *e, int64_t n, double ppy, double *out) {
    double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0, q0 = 0.0, q1 = 0.0, q2 = 0.0, q3 = 0.0;
    double peak = e[0], trough = e[0], maxdd = 0.0;
    int64_t i = 1;
    while (i + 3 < n) {
        double r0 = (e[i] - e[i - 1]) / e[i - 1];
        double r1 = (e[i + 1] - e[i]) / e[i];
        double r2 = (e[i + 2] - e[i + 1]) / e[i + 1];
        double r3 = (e[i + 3] - e[i + 2]) / e[i + 2];
        a0 += r0; a1 += r1; a2 += r2; a3 += r3;
        q0 += r0 * r0; q1 += r1 * r1; q2 += r2 * r2; q3 += r3 * r3;
        DD_STEP(e[i]); DD_STEP(e[i + 1]); DD_STEP(e[i + 2]); DD_STEP(e[i + 3]);
        i += 4;
    }
    while (i < n) {
        double r0 = (e[i] - e[i - 1]) / e[i - 1];
        a0 += r0;
        q0 += r0 * r0;
        DD_STEP(e[i]);
        i += 1;
    }
    if (trough < peak) {
        double dd = (peak - trough) / peak;
        if (dd > maxdd) maxdd = dd;
    }
    double s1 = (a0 + a1) + (a2 + a3), s2 = (q0 + q1) + (q2 + q3);
    int64_t m = n - 1;
    double sharpe = 0.0;
    if (m > 1) {
        double var = (s2 - s1 * s1 / (double)m) / (double)(m - 1);
        if (var > 0.0) sharpe = (s1 / (double)m) / sqrt(var) * sqrt(ppy);
    }
    out[0] = sharpe;
    out[1] = pow(e[n - 1] / e[0], 1.0 / ((double)n / ppy)) - 1.0;
    out[2] = maxdd;
}

typedef struct {
    int kind, tid, nth;
    const double *bank, *rets, *fp, *e;
    const int64_t *ip, *ge;
    int64_t n, n_sets, ng;
    double cost, ppy;
    double *out, *gout;
} job_t;

static void *worker(void *arg) {
    job_t *j = (job_t *)arg;
    /* contiguous chunks by set index */
    int64_t lo = j->n_sets * j->tid / j->nth, hi = j->n_sets * (j->tid + 1) / j->nth;
    for (int64_t k = lo; k < hi; k++) {
        if (j->kind == 0)
            run_program(j->bank, j->n, j->rets, j->ip + k * N_INT, j->fp + k * N_FLOAT, j->cost,
                        j->out + k * N_ACC, j->ge, j->ng, j->ng ? j->gout + k * 2 * j->ng : NULL);
        else
            metric_eval(j->e, j->n, j->ppy, j->out + k * 3);
    }
    return NULL;
}

static void run_jobs(job_t base, int n_threads) {
    if (n_threads < 1) n_threads = 1;
    if (n_threads > 64) n_threads = 64;
    if (base.n_sets < n_threads) n_threads = base.n_sets > 0 ? (int)base.n_sets : 1;
    pthread_t th[64];
    job_t jobs[64];
    for (int t = 0; t < n_threads; t++) {
        jobs[t] = base;
        jobs[t].tid = t;
        jobs[t].nth = n_threads;
    }
    for (int t = 1; t < n_threads; t++) pthread_create(&th[t], NULL, worker, &jobs[t]);
    worker(&jobs[0]);
    for (int t = 1; t < n_threads; t++) pthread_join(th[t], NULL);
}

/* bank: (n_rows, n) row-major; rets: (4, n); ip: (n_sets, 9); fp: (n_sets, 5); out: (n_sets, 13) */
void lq_sweep(const double *bank, int64_t n_rows, int64_t n, const double *rets, const int64_t *ip,
              const double *fp, int64_t n_sets, double cost, double *out, int n_threads) {
    (void)n_rows;
    job_t b = {0};
    b.kind = 0; b.bank = bank; b.rets = rets; b.ip = ip; b.fp = fp; b.n = n; b.n_sets = n_sets;
    b.cost = cost; b.out = out;
    run_jobs(b, n_threads);
}

/* lq_sweep plus per-group sums (kernels.groups): ge: (ng,) group ends; gout: (n_sets, 2 * ng), zeroed
 * by the caller (sums of r, then of r^2, per group) */
void lq_sweep_groups(const double *bank, int64_t n_rows, int64_t n, const double *rets, const int64_t *ip,
                     const double *fp, int64_t n_sets, double cost, double *out, int n_threads,
                     const int64_t *ge, int64_t ng, double *gout) {
    (void)n_rows;
    job_t b = {0};
    b.kind = 0; b.bank = bank; b.rets = rets; b.ip = ip; b.fp = fp; b.n = n; b.n_sets = n_sets;
    b.cost = cost; b.out = out; b.ge = ge; b.ng = ng; b.gout = gout;
    run_jobs(b, n_threads);
}

/* out: (n_evals, 3) = sharpe, cagr, max drawdown of the one curve e[0..n) */
void lq_metric_batch(const double *e, int64_t n, int64_t n_evals, double ppy, double *out, int n_threads) {
    job_t b = {0};
    b.kind = 1; b.e = e; b.n = n; b.n_sets = n_evals; b.ppy = ppy; b.out = out;
    run_jobs(b, n_threads);
}
