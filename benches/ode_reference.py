#!/usr/bin/env python3
"""Independent reference solutions for the ODE test problems of ``pn_ode::problems``.

Every problem is written here again, from its formula (not from the Rust code), and solved with
SciPy at tight tolerances:

* non-stiff problems: ``DOP853`` at rtol = atol = 1e-13;
* stiff problems: ``Radau`` at rtol = 1e-12 with an absolute tolerance set per component far
  below the solution's scale, with the analytic Jacobian;
* ``linear-100`` (x' = A x, A symmetric): the exact solution V exp(Λ t) Vᵀ x0 from
  ``numpy.linalg.eigh``.

To avoid interpolation error, the values at the save times are not taken from a dense output:
the integration is restarted at every save time, so each stored value is the end point of a
solve.

Each reference is cross-checked twice and the agreement recorded in the JSON:

1. the same method at a 100× looser tolerance (how far the solution moves when the tolerance is
   loosened: an upper bound on the primary's error if the method converges);
2. an independent method: Radau for the non-stiff problems, BDF (SciPy's variable-order NDF)
   for the stiff ones, ``scipy.linalg.expm`` and Radau for ``linear-100``. (LSODA was tried
   for the stiff ones: at rtol = 1e-12 it needs over 2·10⁷ steps on ROBER.)

The right-hand side f is also evaluated at three points (t0, x0), a point mid-way along the
solution and the final point, and stored as ``f_checks``: the Rust tests compare the Rust vector
fields against them, which catches a typo on either side.

Output: ``crates/pn-ode/data/<name>.json`` (one file per problem; see ``--help``).
Run through ``benches/ode_reference.sh``, which creates the virtualenv.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import scipy
import scipy.linalg
from scipy.integrate import solve_ivp

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "crates" / "pn-ode" / "data"


# --------------------------------------------------------------------------------------------
# Problems, from their formulas. Each is a dict:
#   name, t0, t1, x0, params (ordered dict name -> value), stiff, formula,
#   f(t, x) -> ndarray, optional jac(t, x) -> ndarray, save (the save times, last = t1),
#   atol (scalar or per component), floor (per-component scale below which differences are
#   measured absolutely when reporting relative agreement).
# --------------------------------------------------------------------------------------------


def lotka_volterra():
    a, b, c, d = 0.5, 0.05, 0.5, 0.05

    def f(t, u):
        prey, pred = u
        return np.array([a * prey - b * prey * pred, d * prey * pred - c * pred])

    return dict(
        name="lotka-volterra",
        t0=0.0,
        t1=20.0,
        x0=[20.0, 20.0],
        params=dict(a=a, b=b, c=c, d=d),
        stiff=False,
        formula="x' = a x - b x y, y' = -c y + d x y",
        f=f,
    )


def fitzhugh_nagumo():
    a, b, c = 0.2, 0.2, 3.0

    def f(t, u):
        v, r = u
        return np.array([c * (v - v**3 / 3.0 + r), -(v - a + b * r) / c])

    return dict(
        name="fitzhugh-nagumo",
        t0=0.0,
        t1=20.0,
        x0=[-1.0, 1.0],
        params=dict(a=a, b=b, c=c),
        stiff=False,
        formula="V' = c (V - V^3/3 + R), R' = -(V - a + b R) / c  (Ramsay et al. 2007)",
        f=f,
    )


def van_der_pol():
    mu = 1.0

    def f(t, u):
        pos, vel = u
        return np.array([vel, mu * ((1.0 - pos * pos) * vel - pos)])

    def jac(t, u):
        pos, vel = u
        return np.array([[0.0, 1.0], [mu * (-2.0 * pos * vel - 1.0), mu * (1.0 - pos * pos)]])

    return dict(
        name="van-der-pol",
        t0=0.0,
        t1=6.3,
        x0=[2.0, 0.0],
        params=dict(mu=mu),
        stiff=False,
        formula="x'' = mu ((1 - x^2) x' - x) as x1' = x2, x2' = mu ((1 - x1^2) x2 - x1)",
        f=f,
        jac=jac,
    )


def rigid_body():
    i1, i2, i3 = -2.0, 1.25, -0.5

    def f(t, u):
        return np.array([i1 * u[1] * u[2], i2 * u[0] * u[2], i3 * u[0] * u[1]])

    return dict(
        name="rigid-body",
        t0=0.0,
        t1=20.0,
        x0=[1.0, 0.0, 0.9],
        params=dict(I1=i1, I2=i2, I3=i3),
        stiff=False,
        formula="y1' = I1 y2 y3, y2' = I2 y1 y3, y3' = I3 y1 y2",
        f=f,
    )


def sir():
    beta, gamma, n = 0.3, 0.1, 1000.0

    def f(t, u):
        s, i, r = u
        infection = beta * s * i / n
        recovery = gamma * i
        return np.array([-infection, infection - recovery, recovery])

    return dict(
        name="sir",
        t0=0.0,
        t1=200.0,
        x0=[998.0, 1.0, 1.0],
        params=dict(beta=beta, gamma=gamma, population=n),
        stiff=False,
        formula="S' = -beta S I / N, I' = beta S I / N - gamma I, R' = gamma I (N = population)",
        f=f,
    )


def pleiades():
    masses = np.arange(1.0, 8.0)

    def f(t, u):
        pos = np.stack([u[0:7], u[7:14]], axis=1)  # (7, 2)
        vel = np.concatenate([u[14:21], u[21:28]])
        diff = pos[None, :, :] - pos[:, None, :]  # diff[i, j] = p_j - p_i
        dist2 = np.sum(diff * diff, axis=2)
        np.fill_diagonal(dist2, 1.0)
        weight = masses[None, :] / dist2**1.5
        np.fill_diagonal(weight, 0.0)
        acc = np.einsum("ij,ijk->ik", weight, diff)  # (7, 2)
        return np.concatenate([vel, acc[:, 0], acc[:, 1]])

    x = [3.0, 3.0, -1.0, -3.0, 2.0, -2.0, 2.0]
    y = [3.0, -3.0, 2.0, 0.0, 0.0, -4.0, 4.0]
    vx = [0.0, 0.0, 0.0, 0.0, 0.0, 1.75, -1.5]
    vy = [0.0, 0.0, 0.0, -1.25, 1.0, 0.0, 0.0]
    return dict(
        name="pleiades",
        t0=0.0,
        t1=3.0,
        x0=x + y + vx + vy,
        params={},
        stiff=False,
        formula="planar 7-body problem, m_j = j, G = 1; state (x1..x7, y1..y7, x1'..x7', y1'..y7')",
        f=f,
    )


def hires():
    def f(t, y):
        y1, y2, y3, y4, y5, y6, y7, y8 = y
        reaction = 280.0 * y6 * y8
        return np.array(
            [
                -1.71 * y1 + 0.43 * y2 + 8.32 * y3 + 0.0007,
                1.71 * y1 - 8.75 * y2,
                -10.03 * y3 + 0.43 * y4 + 0.035 * y5,
                8.32 * y2 + 1.71 * y3 - 1.12 * y4,
                -1.745 * y5 + 0.43 * y6 + 0.43 * y7,
                -reaction + 0.69 * y4 + 1.71 * y5 - 0.43 * y6 + 0.69 * y7,
                reaction - 1.81 * y7,
                -reaction + 1.81 * y7,
            ]
        )

    def jac(t, y):
        j = np.zeros((8, 8))
        j[0, [0, 1, 2]] = [-1.71, 0.43, 8.32]
        j[1, [0, 1]] = [1.71, -8.75]
        j[2, [2, 3, 4]] = [-10.03, 0.43, 0.035]
        j[3, [1, 2, 3]] = [8.32, 1.71, -1.12]
        j[4, [4, 5, 6]] = [-1.745, 0.43, 0.43]
        j[5, [3, 4, 5, 6, 7]] = [0.69, 1.71, -0.43 - 280.0 * y[7], 0.69, -280.0 * y[5]]
        j[6, [5, 6, 7]] = [280.0 * y[7], -1.81, 280.0 * y[5]]
        j[7] = -j[6]
        return j

    return dict(
        name="hires",
        t0=0.0,
        t1=321.8122,
        x0=[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0057],
        params={},
        stiff=True,
        formula="HIRES (Schaefer 1975; Hairer & Wanner II), 8 reactions",
        f=f,
        jac=jac,
        atol=1e-16,
        floor=np.full(8, 1e-4),
    )


def rober():
    k1, k2, k3 = 0.04, 3e7, 1e4

    def f(t, y):
        a, b, c = y
        r1 = k1 * a
        r2 = k2 * b * b
        r3 = k3 * b * c
        return np.array([-r1 + r3, r1 - r2 - r3, r2])

    def jac(t, y):
        a, b, c = y
        return np.array(
            [
                [-k1, k3 * c, k3 * b],
                [k1, -2.0 * k2 * b - k3 * c, -k3 * b],
                [0.0, 2.0 * k2 * b, 0.0],
            ]
        )

    return dict(
        name="rober",
        t0=0.0,
        t1=1e5,
        x0=[1.0, 0.0, 0.0],
        params=dict(k1=k1, k2=k2, k3=k3),
        stiff=True,
        formula="y1' = -k1 y1 + k3 y2 y3, y2' = k1 y1 - k2 y2^2 - k3 y2 y3, y3' = k2 y2^2",
        f=f,
        jac=jac,
        # half decades from 1e-4 to 1e5: the transient is over by t ~ 1e-2
        save=list(10.0 ** np.arange(-4.0, 5.01, 0.5)),
        atol=np.array([1e-16, 1e-22, 1e-16]),
        floor=np.array([1e-4, 1e-10, 1e-4]),
    )


def logistic():
    r, k = 1.0, 1.0

    def f(t, u):
        return r * u * (1.0 - u / k)

    return dict(
        name="logistic",
        t0=0.0,
        t1=2.5,
        x0=[0.1],
        params=dict(r=r, K=k),
        stiff=False,
        formula="x' = r x (1 - x / K)",
        f=f,
    )


def linear_100():
    n, nu = 100, 0.1
    h = 1.0 / (n + 1)
    a = nu / h**2 * (np.diag(np.full(n - 1, 1.0), -1) - 2.0 * np.eye(n) + np.diag(np.full(n - 1, 1.0), 1))

    def f(t, u):
        return a @ u

    def jac(t, u):
        return a

    x0 = np.zeros(n)
    x0[20:50] = 1.0  # entries j = 21..50 (1-based), i.e. grid points in (0.2, 0.5)
    return dict(
        name="linear-100",
        t0=0.0,
        t1=1.0,
        x0=list(x0),
        params=dict(nu=nu),
        stiff=True,
        formula="x' = A x, A = nu (n+1)^2 tridiag(1, -2, 1), n = 100 (1-D heat equation, Dirichlet)",
        f=f,
        jac=jac,
        matrix=a,
        atol=1e-15,
        floor=np.full(n, 1e-2),
    )


def lorenz():
    sigma, rho, beta = 10.0, 28.0, 8.0 / 3.0

    def f(t, u):
        x, y, z = u
        return np.array([sigma * (y - x), x * (rho - z) - y, x * y - beta * z])

    return dict(
        name="lorenz",
        t0=0.0,
        t1=10.0,
        x0=[1.0, 1.0, 1.0],
        params=dict(sigma=sigma, rho=rho, beta=beta),
        stiff=False,
        formula="x' = sigma (y - x), y' = x (rho - z) - y, z' = x y - beta z",
        f=f,
    )


PROBLEMS = [
    lotka_volterra,
    fitzhugh_nagumo,
    van_der_pol,
    rigid_body,
    sir,
    pleiades,
    hires,
    rober,
    logistic,
    linear_100,
    lorenz,
]


# --------------------------------------------------------------------------------------------
# Solving
# --------------------------------------------------------------------------------------------

NONSTIFF_RTOL = 1e-13
STIFF_RTOL = 1e-12


def looser(tol):
    """100 × the tolerance, rounded to 3 significant digits (so that 1e-13 gives 1e-11)."""

    def one(v):
        return float(f"{100.0 * v:.3g}")

    return np.vectorize(one)(tol) if np.ndim(tol) else one(tol)


def as_json_tol(atol):
    return [float(v) for v in atol] if np.ndim(atol) else float(atol)


def solve_restarted(p, method, rtol, atol):
    """Values at the save times, integrating from one save time to the next."""
    kwargs = dict(method=method, rtol=rtol, atol=atol)
    if method in ("Radau", "BDF") and "jac" in p:
        kwargs["jac"] = p["jac"]
    t_prev, x_prev = p["t0"], np.asarray(p["x0"], dtype=float)
    out, nfev, steps = [], 0, 0
    for t_next in p["save"]:
        sol = solve_ivp(p["f"], (t_prev, t_next), x_prev, **kwargs)
        if not sol.success:
            raise RuntimeError(f"{p['name']}: {method} failed on [{t_prev}, {t_next}]: {sol.message}")
        x_prev = sol.y[:, -1].copy()
        out.append(x_prev)
        nfev += sol.nfev
        steps += len(sol.t) - 1
        t_prev = t_next
    info = dict(method=method, rtol=rtol, atol=as_json_tol(atol), nfev=int(nfev), steps=int(steps))
    return np.array(out), info


def solve_exact_linear(p, use_expm):
    a, x0, t0 = p["matrix"], np.asarray(p["x0"], dtype=float), p["t0"]
    if use_expm:
        return np.array([scipy.linalg.expm(a * (t - t0)) @ x0 for t in p["save"]])
    lam, v = np.linalg.eigh(a)
    c = v.T @ x0
    return np.array([v @ (np.exp(lam * (t - t0)) * c) for t in p["save"]])


def agreement(ref, other, floor):
    diff = np.abs(ref - other)
    scale = np.maximum(np.abs(ref), floor)
    return dict(
        max_abs_diff=float(diff.max()),
        max_rel_diff=float((diff / scale).max()),
        final_max_abs_diff=float(diff[-1].max()),
        final_max_rel_diff=float((diff[-1] / scale[-1]).max()),
    )


def f_checks(p, values):
    """f at (t0, x0), at the middle save time and at t1."""
    mid = len(p["save"]) // 2 - 1
    points = [
        (p["t0"], np.asarray(p["x0"], dtype=float)),
        (p["save"][mid], values[mid]),
        (p["save"][-1], values[-1]),
    ]
    return [
        dict(t=float(t), x=[float(v) for v in x], f=[float(v) for v in np.atleast_1d(p["f"](t, x))])
        for t, x in points
    ]


def reference(p):
    p.setdefault("save", list(np.linspace(p["t0"], p["t1"], 21)[1:]))
    p["save"][-1] = p["t1"]
    floor = p.get("floor", np.ones(len(p["x0"])))
    started = time.perf_counter()
    checks = []

    def cross_check(values, method, rtol, atol):
        other, info = solve_restarted(p, method, rtol, atol)
        checks.append(dict(**info, **agreement(values, other, floor)))

    if p["name"] == "linear-100":
        values = solve_exact_linear(p, use_expm=False)
        primary = dict(method="exact: numpy.linalg.eigh of the symmetric A, x(t) = V exp(Λ (t - t0)) Vᵀ x0")
        expm = solve_exact_linear(p, use_expm=True)
        checks.append(dict(method="scipy.linalg.expm(A (t - t0)) @ x0", **agreement(values, expm, floor)))
        cross_check(values, "Radau", STIFF_RTOL, p["atol"])
    elif p["stiff"]:
        values, primary = solve_restarted(p, "Radau", STIFF_RTOL, p["atol"])
        primary["jacobian"] = "analytic"
        cross_check(values, "Radau", looser(STIFF_RTOL), looser(p["atol"]))
        cross_check(values, "BDF", STIFF_RTOL, p["atol"])
    else:
        values, primary = solve_restarted(p, "DOP853", NONSTIFF_RTOL, NONSTIFF_RTOL)
        cross_check(values, "DOP853", looser(NONSTIFF_RTOL), looser(NONSTIFF_RTOL))
        cross_check(values, "Radau", NONSTIFF_RTOL, NONSTIFF_RTOL)
    elapsed = time.perf_counter() - started
    # Each discrepancy is (up to a chance cancellation) at least the reference's own error: if
    # the other solution is the more accurate, it measures that error; if not, it is larger.
    bound = min(c["max_rel_diff"] for c in checks)
    return dict(
        name=p["name"],
        formula=p["formula"],
        t0=float(p["t0"]),
        t1=float(p["t1"]),
        x0=[float(v) for v in p["x0"]],
        params={k: float(v) for k, v in p["params"].items()},
        stiff=bool(p["stiff"]),
        x_t1=[float(v) for v in values[-1]],
        t=[float(t) for t in p["save"]],
        x=[[float(v) for v in row] for row in values],
        f_checks=f_checks(p, values),
        reference=primary,
        cross_checks=checks,
        relative_error_bound=float(bound),
        relative_error_floor=[float(v) for v in floor] if len(set(floor)) > 1 else float(floor[0]),
        note=(
            "values at the save times are end points of solves restarted at every save time (no "
            "interpolation); max_rel_diff = max |x_ref - x_other| / max(|x_ref|, relative_error_floor) "
            "over save times and components; relative_error_bound = the smallest max_rel_diff of the "
            "cross-checks"
        ),
    ), elapsed


def to_json(result):
    """One key per line; lists of rows (x, f_checks, cross_checks) one row per line."""
    lines = []
    for key, value in result.items():
        if key in ("x", "f_checks", "cross_checks"):
            rows = ",\n  ".join(json.dumps(row) for row in value)
            lines.append(f"{json.dumps(key)}: [\n  {rows}\n ]")
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    return "{\n " + ",\n ".join(lines) + "\n}\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="problems to compute (default: all)")
    parser.add_argument("--out-dir", type=Path, default=DATA, help="where to write <name>.json")
    args = parser.parse_args()

    command = os.environ.get("PN_ODE_REFERENCE_COMMAND") or shlex.join(
        ["python3", "benches/ode_reference.py", *sys.argv[1:]]
    )
    software = dict(
        python=platform.python_version(),
        numpy=np.__version__,
        scipy=scipy.__version__,
    )
    known = {make()["name"]: make for make in PROBLEMS}
    names = args.names or list(known)
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"unknown problem(s) {unknown}; known: {list(known)}")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        result, elapsed = reference(known[name]())
        result["software"] = software
        result["command"] = command
        path = args.out_dir / f"{name}.json"
        path.write_text(to_json(result))
        checks = ", ".join(f"{c['method']}: {c['max_rel_diff']:.1e}" for c in result["cross_checks"])
        print(f"{name:16s} {elapsed:7.1f} s   cross-checks (max rel diff) {checks}", file=sys.stderr)


if __name__ == "__main__":
    main()
