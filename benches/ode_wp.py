"""Work-precision benchmark of pn-ode's ODE filters against probdiffeq, ProbNum, SciPy and
classical Rust solvers (diffsol, ode_solvers). Driven by benches/ode_wp.sh (which builds the
Rust binaries and sets the thread environment); see docs/benchmarks.md.

Every tool solves the same five problems (the definitions of pn_ode::problems) from t0 to t1
and returns only the end value; its final error is measured against the SciPy reference stored
in crates/pn-ode/data/<problem>.json, as max_i |x_i - ref_i| / max(|ref_i|, floor) with the
file's relative_error_floor. Answers that disagree with the reference by more than the
validation bound are marked invalid and left out of plots and tables (and listed).

Timing: pn and the Rust peers time themselves with Instant (one untimed warm-up, median of
>= 5); SciPy and probdiffeq are timed here the same way (probdiffeq: jit-compiled, compile time
measured separately, jax.block_until_ready); ProbNum runs once per tolerance in a subprocess with
a 60 s limit (it is slow).
"""

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "crates" / "pn-ode" / "data"
PROBLEMS = ["lotka-volterra", "fitzhugh-nagumo", "van-der-pol", "hires", "pleiades"]
STIFF = {"hires"}
# atol = ATOL_SCALE * rtol: HIRES has components of size 1e-4..1e-2.
ATOL_SCALE = {"hires": 1e-3}
TARGET = 1e-8
# Problems on which the dense EK1 (pn and probdiffeq) is only sampled: one order, few tolerances.
DENSE_EK1_SAMPLE = {"pleiades"}
SMOOTH_PROBLEMS = {"lotka-volterra", "fitzhugh-nagumo", "van-der-pol"}


def reference(name):
    with open(DATA / f"{name}.json") as fh:
        d = json.load(fh)
    return d


def final_error(x, ref):
    r = np.asarray(ref["x_t1"], dtype=float)
    x = np.asarray(x, dtype=float)
    floor = ref.get("relative_error_floor", 1.0)
    rel = float(np.max(np.abs(x - r) / np.maximum(np.abs(r), floor)))
    return rel, float(np.max(np.abs(x - r)))


def valid(entry):
    """An answer is accepted when it is finite, agrees with the reference to 5 % and is within
    a generous bound of its tolerance (this catches a wrong end time or a wrong problem, not a
    merely inaccurate solver: the error reported is the measured one)."""
    e = entry.get("error_rel")
    if e is None or not math.isfinite(e):
        return False
    return e < 0.05 and e <= max(1e5 * entry["rtol"], 1e-3)


# ----------------------------------------------------------------------------- vector fields

def numpy_field(name):
    """(f(t, y), jac(t, y)) in NumPy, the same formulas as pn_ode::problems."""
    if name == "lotka-volterra":
        a, b, c, d = 0.5, 0.05, 0.5, 0.05

        def f(t, y):
            return np.array([a * y[0] - b * y[0] * y[1], -c * y[1] + d * y[0] * y[1]])

        def jac(t, y):
            return np.array([[a - b * y[1], -b * y[0]], [d * y[1], -c + d * y[0]]])
    elif name == "fitzhugh-nagumo":
        a, b, c = 0.2, 0.2, 3.0

        def f(t, y):
            return np.array([c * (y[0] - y[0] ** 3 / 3 + y[1]), -(y[0] - a + b * y[1]) / c])

        def jac(t, y):
            return np.array([[c * (1 - y[0] ** 2), c], [-1 / c, -b / c]])
    elif name == "van-der-pol":
        mu = 1.0

        def f(t, y):
            return np.array([y[1], mu * ((1 - y[0] ** 2) * y[1] - y[0])])

        def jac(t, y):
            return np.array([[0.0, 1.0], [mu * (-2 * y[0] * y[1] - 1), mu * (1 - y[0] ** 2)]])
    elif name == "pleiades":
        m = np.arange(1, 8, dtype=float)

        def f(t, y):
            x, yy = y[:7], y[7:14]
            dx = x[None, :] - x[:, None]
            dy = yy[None, :] - yy[:, None]
            r3 = (dx**2 + dy**2) ** 1.5
            np.fill_diagonal(r3, np.inf)
            ax = np.sum(m[None, :] * dx / r3, axis=1)
            ay = np.sum(m[None, :] * dy / r3, axis=1)
            return np.concatenate([y[14:], ax, ay])

        def jac(t, y):
            eps = 1e-7
            out = np.empty((28, 28))
            for j in range(28):
                e = np.zeros(28)
                e[j] = eps
                out[:, j] = (f(t, y + e) - f(t, y - e)) / (2 * eps)
            return out
    elif name == "hires":
        def f(t, y):
            r = 280.0 * y[5] * y[7]
            return np.array([
                -1.71 * y[0] + 0.43 * y[1] + 8.32 * y[2] + 0.0007,
                1.71 * y[0] - 8.75 * y[1],
                -10.03 * y[2] + 0.43 * y[3] + 0.035 * y[4],
                8.32 * y[1] + 1.71 * y[2] - 1.12 * y[3],
                -1.745 * y[4] + 0.43 * y[5] + 0.43 * y[6],
                -r + 0.69 * y[3] + 1.71 * y[4] - 0.43 * y[5] + 0.69 * y[6],
                r - 1.81 * y[6],
                -r + 1.81 * y[6],
            ])

        def jac(t, y):
            J = np.zeros((8, 8))
            J[0, :3] = [-1.71, 0.43, 8.32]
            J[1, :2] = [1.71, -8.75]
            J[2, 2:5] = [-10.03, 0.43, 0.035]
            J[3, 1:4] = [8.32, 1.71, -1.12]
            J[4, 4:7] = [-1.745, 0.43, 0.43]
            J[5, 3:7] = [0.69, 1.71, -0.43, 0.69]
            J[6, 6] = -1.81
            J[7, 6] = 1.81
            J[5, 5] += -280.0 * y[7]
            J[5, 7] += -280.0 * y[5]
            J[6, 5] += 280.0 * y[7]
            J[6, 7] += 280.0 * y[5]
            J[7, 5] += -280.0 * y[7]
            J[7, 7] += -280.0 * y[5]
            return J
    else:
        raise ValueError(name)
    return f, jac


def jax_field(name):
    import jax.numpy as jnp

    if name == "lotka-volterra":
        def f(y):
            return jnp.asarray([0.5 * y[0] - 0.05 * y[0] * y[1], -0.5 * y[1] + 0.05 * y[0] * y[1]])
    elif name == "fitzhugh-nagumo":
        def f(y):
            return jnp.asarray([3.0 * (y[0] - y[0] ** 3 / 3 + y[1]), -(y[0] - 0.2 + 0.2 * y[1]) / 3.0])
    elif name == "van-der-pol":
        def f(y):
            return jnp.asarray([y[1], (1 - y[0] ** 2) * y[1] - y[0]])
    elif name == "pleiades":
        m = jnp.arange(1, 8, dtype=float)

        def f(y):
            x, yy = y[:7], y[7:14]
            dx = x[None, :] - x[:, None]
            dy = yy[None, :] - yy[:, None]
            r2 = dx**2 + dy**2 + jnp.eye(7)  # the diagonal terms are multiplied by dx = 0
            r3 = r2 * jnp.sqrt(r2)
            ax = jnp.sum(m[None, :] * dx / r3, axis=1)
            ay = jnp.sum(m[None, :] * dy / r3, axis=1)
            return jnp.concatenate([y[14:], ax, ay])
    elif name == "hires":
        def f(y):
            r = 280.0 * y[5] * y[7]
            return jnp.asarray([
                -1.71 * y[0] + 0.43 * y[1] + 8.32 * y[2] + 0.0007,
                1.71 * y[0] - 8.75 * y[1],
                -10.03 * y[2] + 0.43 * y[3] + 0.035 * y[4],
                8.32 * y[1] + 1.71 * y[2] - 1.12 * y[3],
                -1.745 * y[4] + 0.43 * y[5] + 0.43 * y[6],
                -r + 0.69 * y[3] + 1.71 * y[4] - 0.43 * y[5] + 0.69 * y[6],
                r - 1.81 * y[6],
                -r + 1.81 * y[6],
            ])
    else:
        raise ValueError(name)
    return f


def check_fields():
    """Each Python vector field must equal the reference file's f_checks (pn's own formulas)."""
    for name in PROBLEMS:
        ref = reference(name)
        f, _ = numpy_field(name)
        fj = jax_field(name) if HAVE_JAX else None
        for c in ref.get("f_checks", []):
            want = np.asarray(c["f"])
            got = f(c["t"], np.asarray(c["x"], dtype=float))
            assert np.allclose(got, want, rtol=1e-12, atol=1e-12), (name, got, want)
            if fj is not None:
                gj = np.asarray(fj(np.asarray(c["x"], dtype=float)))
                assert np.allclose(gj, want, rtol=1e-12, atol=1e-12), (name, "jax", gj, want)


# ----------------------------------------------------------------------------- timing

def median_time(fn, reps):
    fn()  # warm-up
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    ts.sort()
    return ts[len(ts) // 2], ts[0], ts[-1]


def emit(results, entry):
    entry["valid"] = valid(entry)
    results.append(entry)
    e = entry.get("error_rel")
    t = entry.get("time_s")
    tag = "" if entry["valid"] else "  INVALID" if "error" not in entry else "  FAILED: " + entry["error"][:80]
    print(
        f"  {entry['tool']:<12} {entry['problem']:<16} {entry.get('method', ''):<9} q={entry.get('order', '-')!s:<2}"
        f" tol={entry['rtol']:.0e} err={e if e is None else f'{e:.2e}'} "
        f"t={t if t is None else f'{t * 1e3:.3f} ms'} steps={entry.get('steps')}{tag}",
        file=sys.stderr,
        flush=True,
    )


# ----------------------------------------------------------------------------- sides

def run_rust(results, binary, name, extra, label):
    cmd = [str(binary), "--problems", name, "--atol-scale", str(ATOL_SCALE.get(name, 1.0))] + extra
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"  {label}: {' '.join(cmd)} failed: {proc.stderr.strip()[-300:]}", file=sys.stderr)
    for line in proc.stdout.splitlines():
        if line.strip():
            emit(results, json.loads(line))


def run_pn(results, args, name, tols=None, methods=None):
    tols = tols or args.pn_tols
    methods = methods or (["ek1", "diag-ek1"] if name in STIFF else ["ek0", "ek1", "diag-ek1"])
    if name in DENSE_EK1_SAMPLE:
        # The dense EK1 on d = 28 costs milliseconds per step: one order, two tolerances.
        methods = [m for m in methods if m != "ek1"]
        extra = ["--methods", "ek1", "--orders", "5", "--tols", "1e-4,1e-6", "--reps", str(args.reps),
                 "--max-seconds", "30"]
        run_rust(results, args.pn_bin, name, extra, "pn")
    extra = ["--methods", ",".join(methods), "--orders", "3,4,5",
             "--tols", ",".join(f"{t:g}" for t in tols), "--reps", str(args.reps), "--max-seconds", "1.5"]
    run_rust(results, args.pn_bin, name, extra, "pn")


def run_pn_smooth(results, args, name):
    """With-smoothing timing for one setting (EK1, q = 4, tol 1e-8) on the small problems."""
    if name not in SMOOTH_PROBLEMS:
        return
    extra = ["--methods", "ek1", "--orders", "4", "--tols", "1e-8", "--reps", str(args.reps), "--smooth"]
    run_rust(results, args.pn_bin, name, extra, "pn")


def run_peers(results, args, name):
    solvers = "bdf" if name in STIFF else "tsit45,bdf,dop853"
    extra = ["--solvers", solvers, "--tols", ",".join(f"{t:g}" for t in args.peer_tols), "--reps", "7"]
    run_rust(results, args.peers_bin, name, extra, "rust")


def run_scipy(results, args, name):
    from scipy.integrate import solve_ivp

    ref = reference(name)
    f, jac = numpy_field(name)
    t0, t1, x0 = ref["t0"], ref["t1"], np.asarray(ref["x0"], dtype=float)
    methods = ["Radau"] if name in STIFF else ["RK45", "DOP853", "Radau"]
    for method in methods:
        for tol in args.scipy_tols:
            if (method == "RK45" and tol < 1e-11) or (method == "Radau" and name not in STIFF and tol < 1e-9):
                continue
            atol = tol * ATOL_SCALE.get(name, 1.0)
            kw = dict(method=method, rtol=tol, atol=atol)
            if method == "Radau":
                kw["jac"] = jac
            t = time.perf_counter()
            sol = solve_ivp(f, (t0, t1), x0, **kw)
            once = time.perf_counter() - t
            head = {"tool": "scipy", "problem": name, "method": method, "rtol": tol, "atol": atol}
            if not sol.success:
                emit(results, {**head, "error": sol.message})
                continue
            rel, ab = final_error(sol.y[:, -1], ref)
            reps = 5 if once < 1.0 else 3
            med, tmin, tmax = median_time(lambda: solve_ivp(f, (t0, t1), x0, **kw), reps)
            steps = len(sol.t) - 1
            emit(results, {**head, "error_rel": rel, "error_abs": ab, "steps": steps, "f_evals": int(sol.nfev),
                           "time_s": med, "time_min_s": tmin, "time_max_s": tmax, "reps": reps,
                           "us_per_step": med * 1e6 / max(steps, 1)})
            if once > 10.0:
                break


def run_probdiffeq(results, args, name):
    import jax
    import jax.numpy as jnp
    from probdiffeq import ivpsolve, probdiffeq

    ref = reference(name)
    t0, t1 = ref["t0"], ref["t1"]
    u0 = jnp.asarray(ref["x0"], dtype=float)
    scale = ATOL_SCALE.get(name, 1.0)
    vf_plain = jax_field(name)

    @probdiffeq.ode
    def vf(y, /, *, t):
        del t
        return vf_plain(y)

    configs = [("ek1", "dense", 1)] if name in STIFF else [("ek0", "isotropic", 0), ("ek1", "dense", 1)]
    for method, fact, order1 in configs:
        orders = (5,) if (order1 and name in DENSE_EK1_SAMPLE) else (3, 4, 5)
        tols = [1e-4, 1e-6] if (order1 and name in DENSE_EK1_SAMPLE) else args.pdq_tols
        for q in orders:
            def solve(tol, q=q, fact=fact, order1=order1):
                tcoeffs, _ = probdiffeq.jetexpand_ode_padded_scan(num=q)(vf, (u0,), t=t0)
                ssm = getattr(probdiffeq, f"state_space_model_{fact}")()
                iwp = ssm.prior_wiener_integrated(tcoeffs)
                c = ssm.constraint_ode_ts1(vf) if order1 else ssm.constraint_ode_ts0(vf)
                solver = probdiffeq.solver_mle(strategy=probdiffeq.strategy_filter(), constraint=c)
                error = probdiffeq.error_residual_std(constraint=c)
                loop = ivpsolve.solve_adaptive_terminal_values(
                    error=error, solver=solver, control=ivpsolve.control_proportional_integral())
                dt0 = ivpsolve.dt0(vf, (u0,), t=t0)
                sol = loop(iwp, t0=t0, t1=t1, dt0=dt0, atol=scale * tol, rtol=tol)
                return sol.u.mean[0], sol.num_steps

            jitted = jax.jit(solve)
            t = time.perf_counter()
            jax.block_until_ready(jitted(1e-4))
            compile_s = time.perf_counter() - t
            for tol in tols:
                head = {"tool": "probdiffeq", "problem": name, "method": method, "order": q,
                        "rtol": tol, "atol": scale * tol, "compile_s": compile_s}
                t = time.perf_counter()
                u, n = jax.block_until_ready(jitted(tol))
                once = time.perf_counter() - t
                u = np.asarray(u)
                if not np.all(np.isfinite(u)):
                    emit(results, {**head, "error": "non-finite end value"})
                    continue
                rel, ab = final_error(u, ref)
                reps = 5 if once < 1.0 else 3
                med, tmin, tmax = median_time(lambda: jax.block_until_ready(jitted(tol)), reps)
                steps = int(n)
                emit(results, {**head, "error_rel": rel, "error_abs": ab, "steps": steps,
                               "time_s": med, "time_min_s": tmin, "time_max_s": tmax, "reps": reps,
                               "us_per_step": med * 1e6 / max(steps, 1)})
                if once > (30.0 if name in DENSE_EK1_SAMPLE else 3.0):
                    break


PROBNUM_SHIM = """
import numpy as _np
for _a, _v in [("float_", _np.float64), ("complex_", _np.complex128), ("infty", _np.inf),
               ("NaN", _np.nan), ("Inf", _np.inf), ("product", _np.prod),
               ("cumproduct", _np.cumprod), ("alltrue", _np.all), ("sometrue", _np.any)]:
    hasattr(_np, _a) or setattr(_np, _a, _v)
"""


def probnum_one(name, method, q, tol):
    """One ProbNum solve (run in a child process); prints one JSON line."""
    exec(PROBNUM_SHIM, {})  # ProbNum 0.1.25 still uses NumPy 1 aliases removed in NumPy 2
    import warnings

    warnings.filterwarnings("ignore")
    from probnum.diffeq import probsolve_ivp

    ref = reference(name)
    f, jac = numpy_field(name)
    atol = tol * ATOL_SCALE.get(name, 1.0)
    t = time.perf_counter()
    sol = probsolve_ivp(f, ref["t0"], ref["t1"], np.asarray(ref["x0"], dtype=float), df=jac,
                        method=method.upper(), algo_order=q, atol=atol, rtol=tol, dense_output=False)
    el = time.perf_counter() - t
    x = np.asarray(sol.states[-1].mean)
    assert abs(sol.locations[-1] - ref["t1"]) < 1e-9
    rel, ab = final_error(x, ref)
    steps = len(sol.locations) - 1
    print(json.dumps({"tool": "probnum", "problem": name, "method": method, "order": q, "rtol": tol,
                      "atol": atol, "error_rel": rel, "error_abs": ab, "steps": steps, "time_s": el,
                      "reps": 1, "us_per_step": el * 1e6 / max(steps, 1)}))


def run_probnum(results, args, name, budget):
    plan = [("ek1", 4, t) for t in args.probnum_tols]
    if name not in STIFF:
        plan += [("ek0", 4, t) for t in args.probnum_tols[:2]]
    skip = set()
    for method, q, tol in plan:
        if method in skip:
            continue
        head = {"tool": "probnum", "problem": name, "method": method, "order": q, "rtol": tol,
                "atol": tol * ATOL_SCALE.get(name, 1.0)}
        if budget[0] <= 0:
            emit(results, {**head, "error": "skipped: ProbNum time budget of this run used up"})
            continue
        limit = min(args.probnum_limit, budget[0])
        t = time.perf_counter()
        try:
            out = subprocess.run([sys.executable, __file__, "--probnum-one", name, method, str(q), repr(tol)],
                                 capture_output=True, text=True, timeout=limit)
            line = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
            if out.returncode != 0 or not line:
                emit(results, {**head, "error": (out.stderr.strip().splitlines() or ["failed"])[-1]})
                skip.add(method)
            else:
                emit(results, json.loads(line[-1]))
        except subprocess.TimeoutExpired:
            emit(results, {**head, "error": f"skipped: one solve takes > {limit:.0f} s"})
            skip.add(method)
        budget[0] -= time.perf_counter() - t


# ----------------------------------------------------------------------------- analysis

def series(results, problem):
    """Valid, non-smoothing runs grouped by (tool, method, order)."""
    groups = {}
    for r in results:
        if r["problem"] != problem or not r.get("valid") or r.get("smooth"):
            continue
        key = (r["tool"], r["method"], r.get("order"))
        groups.setdefault(key, []).append(r)
    return groups


def at_target(runs, target=TARGET):
    """Log-log interpolation of time, steps and us/step at final error = target between the two
    cheapest runs that bracket it; None if no pair brackets it."""
    runs = sorted(runs, key=lambda r: r["time_s"])
    for a, b in zip(runs, runs[1:]):
        ea, eb = a["error_rel"], b["error_rel"]
        if ea > 0 and eb > 0 and min(ea, eb) <= target <= max(ea, eb):
            if ea == eb:
                w = 0.0
            else:
                w = (math.log(target) - math.log(ea)) / (math.log(eb) - math.log(ea))

            def li(k):
                return math.exp((1 - w) * math.log(a[k]) + w * math.log(b[k]))

            return {"time_s": li("time_s"), "steps": li("steps"), "us_per_step": li("us_per_step"),
                    "error_rel": target, "interpolated": True}
    return None


def nearest(runs, target=TARGET):
    return min(runs, key=lambda r: abs(math.log(r["error_rel"] / target))) if runs else None


LABEL = {"pn": "pn", "probdiffeq": "probdiffeq", "probnum": "ProbNum", "scipy": "SciPy",
         "diffsol": "diffsol", "ode_solvers": "ode_solvers"}
MLABEL = {"ek0": "EK0", "ek1": "EK1", "diag-ek1": "diag. EK1", "tsit45": "Tsit5", "bdf": "BDF",
          "dop853": "DOP853", "RK45": "RK45", "DOP853": "DOP853", "Radau": "Radau"}


def table(results):
    """Markdown: per problem, the best order of each (tool, method) at final error 1e-8, ratios."""
    lines = []
    for problem in PROBLEMS:
        groups = series(results, problem)
        best = best_per_method(groups)
        if not best:
            continue
        lines.append(f"\n**{problem}** (d = {len(reference(problem)['x0'])}{', stiff' if problem in STIFF else ''})\n")
        lines.append("| tool | method | q | final error | time | steps | µs/step |")
        lines.append("|---|---|---|---|---|---|---|")
        order = ["pn", "probdiffeq", "probnum", "diffsol", "ode_solvers", "scipy"]
        for (tool, method), c in sorted(best.items(), key=lambda kv: (order.index(kv[0][0]), kv[1]["time_s"])):
            err = "1e-8 (interp.)" if c["exact"] else f"{c['error_rel']:.1e} (nearest run)"
            lines.append(f"| {LABEL[tool]} | {MLABEL.get(method, method)} | {c['order'] or ''} | {err} | "
                         f"{fmt_time(c['time_s'])} | {c['steps']:.0f} | {c['us_per_step']:.2f} |")
        ratios = []
        for lab, r, at in problem_ratios(groups, best):
            if r is None:
                ratios.append(f"{lab}: {at}")
            else:
                ratios.append(f"{lab} = {r:.3g}{at}")
        if ratios:
            lines.append("\nRatios (at equal final error): " + "; ".join(ratios) + ".")
    lines.append(summary(results))
    return "\n".join(lines) + "\n"


RATIOS = [("ek1", ("probdiffeq", "ek1"), "probdiffeq EK1 / pn EK1"),
          ("ek1", ("probnum", "ek1"), "ProbNum EK1 / pn EK1"),
          ("ek1", ("diffsol", "tsit45"), "pn EK1 / diffsol Tsit5"),
          ("ek0", ("diffsol", "tsit45"), "pn EK0 / diffsol Tsit5"),
          ("ek0", ("probdiffeq", "ek0"), "probdiffeq EK0 / pn EK0"),
          ("ek1", ("diffsol", "bdf"), "pn EK1 / diffsol BDF")]


def best_per_method(groups):
    best = {}
    for (tool, method, q), runs in groups.items():
        hit = at_target(runs)
        cand = None
        if hit:
            cand = {**hit, "order": q, "exact": True}
        else:
            n = nearest(runs)
            if n is not None:
                cand = {"time_s": n["time_s"], "steps": n["steps"], "us_per_step": n["us_per_step"],
                        "error_rel": n["error_rel"], "order": q, "exact": False}
        if cand is None:
            continue
        k = (tool, method)
        old = best.get(k)
        better = old is None or (cand["exact"] and not old["exact"]) or (
            cand["exact"] == old["exact"] and (
                cand["time_s"] < old["time_s"] if cand["exact"] else
                abs(math.log(cand["error_rel"] / TARGET)) < abs(math.log(old["error_rel"] / TARGET))))
        if better:
            best[k] = cand
    return best


def problem_ratios(groups, best):
    """(label, ratio or None, note) at equal final error, pn at its best order."""
    out = []
    for pn_m, other, lab in RATIOS:
        o = best.get(other)
        if not o:
            continue
        pn_runs = [r for (t, m, _q), rs in groups.items() if t == "pn" and m == pn_m for r in rs]
        by_order = {}
        for r in pn_runs:
            by_order.setdefault(r["order"], []).append(r)
        hits = [h for h in (at_target(rs, o["error_rel"]) for rs in by_order.values()) if h]
        if not hits:
            out.append((lab, None, f"pn {pn_m.upper()} has no runs bracketing error {o['error_rel']:.1e}"))
            continue
        pn_t = min(h["time_s"] for h in hits)
        r = pn_t / o["time_s"] if lab.startswith("pn") else o["time_s"] / pn_t
        out.append((lab, r, "" if o["exact"] else f" (at error {o['error_rel']:.1e})"))
    return out


def summary(results):
    labels = [lab for _, _, lab in RATIOS]
    lines = ["\n**Ratios at equal final error** (pn at its best order; 'at …' = at that tool's "
             "nearest error when it has no runs around 1e-8)\n",
             "| problem | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    for problem in PROBLEMS:
        groups = series(results, problem)
        if not groups:
            continue
        got = {lab: (r, at) for lab, r, at in problem_ratios(groups, best_per_method(groups))}
        cells = []
        for lab in labels:
            if lab not in got:
                cells.append("–")
            elif got[lab][0] is None:
                cells.append("n/a")
            else:
                cells.append(f"{got[lab][0]:.3g}{got[lab][1]}")
        lines.append(f"| {problem} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def fmt_time(s):
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def plot(results, img_dir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {("pn", "ek1"): "#d62728", ("pn", "ek0"): "#ff9896", ("pn", "diag-ek1"): "#e377c2",
              ("probdiffeq", "ek1"): "#1f77b4", ("probdiffeq", "ek0"): "#aec7e8",
              ("probnum", "ek1"): "#2ca02c", ("probnum", "ek0"): "#98df8a",
              ("diffsol", "tsit45"): "#000000", ("diffsol", "bdf"): "#7f7f7f",
              ("ode_solvers", "dop853"): "#8c564b",
              ("scipy", "RK45"): "#bcbd22", ("scipy", "DOP853"): "#17becf", ("scipy", "Radau"): "#9467bd"}
    markers = {3: "o", 4: "s", 5: "^", None: "x"}
    img_dir.mkdir(parents=True, exist_ok=True)
    for problem in PROBLEMS:
        groups = series(results, problem)
        if not groups:
            continue
        fig, ax = plt.subplots(figsize=(8.5, 5.5))
        for (tool, method, q), runs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or 0)):
            runs = sorted(runs, key=lambda r: r["rtol"], reverse=True)
            ax.loglog([r["time_s"] for r in runs], [r["error_rel"] for r in runs],
                      marker=markers.get(q, "x"), ms=4, lw=1.2,
                      color=colors.get((tool, method), "#444444"),
                      ls="-" if tool == "pn" else "--" if tool in ("probdiffeq", "probnum") else ":",
                      label=f"{LABEL[tool]} {MLABEL.get(method, method)}" + (f" q={q}" if q else ""))
        ax.axhline(TARGET, color="#999999", lw=0.6)
        ax.set_xlabel("wall time of one solve [s]")
        ax.set_ylabel("final error (max. relative, vs. reference)")
        ax.set_title(f"{problem}: work-precision (filter-only, terminal value)")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7, ncol=1, loc="center left", bbox_to_anchor=(1.01, 0.5))
        fig.tight_layout()
        fig.savefig(img_dir / f"ode-wp-{problem}.svg")
        plt.close(fig)


# ----------------------------------------------------------------------------- main

def git_commit():
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "crates/pn-ode", "crates/pn-filter",
                                "crates/pn-core"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        return head + (" + uncommitted changes in pn-ode/pn-filter/pn-core" if dirty else "")
    except OSError:
        return None


def machine():
    info = {"python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import scipy

    info["numpy"], info["scipy"] = np.__version__, scipy.__version__
    for mod in ("jax", "probdiffeq", "probnum"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            pass
    return info


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--pn-bin", type=Path)
    p.add_argument("--peers-bin", type=Path)
    p.add_argument("--out", type=Path, default=ROOT / "benches" / "results" / "ode_wp.json")
    p.add_argument("--img-dir", type=Path, default=ROOT / "docs" / "img")
    p.add_argument("--table", type=Path, default=ROOT / "benches" / "results" / "ode_wp_table.md")
    p.add_argument("--problems", nargs="*", default=PROBLEMS)
    p.add_argument("--sides", nargs="*", default=["pn", "probdiffeq", "rust", "scipy", "probnum"])
    p.add_argument("--pn-only", action="store_true",
                   help="re-run only pn and merge into the existing --out (other sides kept)")
    p.add_argument("--replot", action="store_true", help="only redo plots and table from --out")
    p.add_argument("--keep-others", action="store_true",
                   help="keep the results of problems and sides not run now from an existing --out")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--probnum-limit", type=float, default=60.0)
    p.add_argument("--probnum-budget", type=float, default=240.0)
    p.add_argument("--probnum-one", nargs=4)
    a = p.parse_args()
    a.pn_tols = [1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10]
    a.peer_tols = [1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11, 1e-12]
    a.scipy_tols = [1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11, 1e-12]
    a.pdq_tols = [1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10]
    a.probnum_tols = [1e-4, 1e-6, 1e-8]

    if a.probnum_one:
        name, method, q, tol = a.probnum_one
        probnum_one(name, method, int(q), float(tol))
        return

    if a.replot:
        doc = json.loads(a.out.read_text())
        finish(doc, a)
        return

    global HAVE_JAX
    if "probdiffeq" in a.sides and not a.pn_only:
        import jax

        jax.config.update("jax_enable_x64", True)
        jax.config.update("jax_platform_name", "cpu")
        HAVE_JAX = True
    check_fields()
    try:
        from threadpoolctl import threadpool_info

        blas = [(i.get("internal_api"), i.get("num_threads")) for i in threadpool_info()]
    except Exception:  # noqa: BLE001
        blas = None

    if a.pn_only:
        doc = json.loads(a.out.read_text())
        kept = [r for r in doc["results"] if r["tool"] != "pn"]
        commit_at_start = git_commit()
        results = []
        for name in a.problems:
            print(f"[{name}] pn", file=sys.stderr, flush=True)
            run_pn(results, a, name)
            run_pn_smooth(results, a, name)
        doc["results"] = kept + results
        doc["pn_rerun_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        doc["pn_rerun_load_average"] = os.getloadavg()
        doc["pn_rerun_commit"] = commit_at_start
        finish(doc, a)
        return

    results = []
    if a.keep_others and a.out.exists():
        side_of = {"pn": "pn", "probdiffeq": "probdiffeq", "diffsol": "rust", "ode_solvers": "rust",
                   "scipy": "scipy", "probnum": "probnum"}
        results = [r for r in json.loads(a.out.read_text())["results"]
                   if r["problem"] not in a.problems or side_of[r["tool"]] not in a.sides]
    load_at_start = os.getloadavg()
    commit_at_start = git_commit()  # the wp_bench binary was built from this tree just before
    budget = [a.probnum_budget]
    start = time.time()
    # The sides alternate problem by problem (pn, probdiffeq, Rust peers, SciPy, ProbNum).
    for name in a.problems:
        for side in a.sides:
            print(f"[{name}] {side}", file=sys.stderr, flush=True)
            if side == "pn":
                run_pn(results, a, name)
                run_pn_smooth(results, a, name)
            elif side == "probdiffeq":
                run_probdiffeq(results, a, name)
            elif side == "rust":
                run_peers(results, a, name)
            elif side == "scipy":
                run_scipy(results, a, name)
            elif side == "probnum":
                run_probnum(results, a, name, budget)
        partial = a.out.with_suffix(".partial.json")
        partial.write_text(json.dumps({"results": results}) + "\n")
    doc = {
        "description": "final error (max_i |x_i - ref_i| / max(|ref_i|, floor)) vs median wall time of "
                       "terminal-value solves; see benches/ode_wp.py",
        "command": "benches/ode_wp.sh",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "blas": blas,
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS")},
        "atol_scale": ATOL_SCALE,
        "wall_s": time.time() - start,
        "load_average_at_start": load_at_start,
        "pn_commit": commit_at_start,
        "results": results,
    }
    finish(doc, a)
    partial = a.out.with_suffix(".partial.json")
    if partial.exists():
        partial.unlink()


def finish(doc, a):
    for r in doc["results"]:
        r["valid"] = valid(r)
    invalid = [r for r in doc["results"] if not r["valid"]]
    doc["invalid_or_failed"] = [
        {k: r.get(k) for k in ("tool", "problem", "method", "order", "rtol", "error_rel", "error")}
        for r in invalid]
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=1) + "\n")
    md = table(doc["results"])
    a.table.write_text(md)
    plot(doc["results"], a.img_dir)
    print(md)
    print(f"wrote {a.out}, {a.table} and {a.img_dir}/ode-wp-*.svg; {len(invalid)} invalid/failed runs",
          file=sys.stderr)


HAVE_JAX = False

if __name__ == "__main__":
    main()
