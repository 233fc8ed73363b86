#!/usr/bin/env python3
"""pn-core against NumPy/SciPy on the same work, in one run: kernel-matrix assembly and Cholesky.

Tasks (same deterministic inputs on both sides, x_i = 2 (sin(0.7 i + 0.3), cos(1.3 i)), d = 2):

* ``assemble``: K = k_SE(X, X) with lengthscale 1 and output scale 1. NumPy builds it with
  broadcasting, as a user would: ``sf2 * np.exp(-0.5 * ((X[:, None] - X[None]) ** 2).sum(-1) / ell**2)``;
  pn calls ``SquaredExponential::matrix``.
* ``cholesky``: L Lᵀ = K + 1e-2 I. SciPy: ``scipy.linalg.cho_factor(A, lower=True)``; pn:
  ``pn_core::dense::cholesky`` (faer backend by default; optionally also the ``lapack`` feature
  build, which links the system OpenBLAS).

Protocol: every peer's answer is validated against the reference before timing (kernel-matrix
checksum to 1e-12 relative, a few entries against a pure-Python ``math.exp`` evaluation to
1e-12 relative, Cholesky log-determinant to 1e-8 relative) and again on every timed run; the
script aborts on any disagreement. Then the sides are alternated (pn 1 thread, NumPy/SciPy,
pn 2 threads, [pn lapack 1 thread], repeat) and medians and ratios reported. Python and its BLAS
run on one thread (checked with threadpoolctl); pn's threads are set with RAYON_NUM_THREADS.
Times are taken inside each process around the library call only (pn: std::time::Instant in
``crates/pn-core/examples/timing.rs``; Python: time.perf_counter); each side does one untimed
warm-up call per configuration.

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, if set in the environment, slow NumPy's bundled OpenBLAS:
the script re-executes itself without them (for the NumPy/SciPy side only) and passes the
original values on to the pn processes unchanged.

Run through ``benches/run_core.sh`` (creates the venv and builds the Rust binaries).
"""

from __future__ import annotations

import os
import sys

# --- environment: one BLAS thread for Python, no OpenBLAS core-type overrides for NumPy --------
_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_SAVED_PREFIX = "PN_BENCH_SAVED_"
if any(v in os.environ for v in _OVERRIDES) and "PN_BENCH_REEXEC" not in os.environ:
    env = dict(os.environ)
    for v in _OVERRIDES:
        if v in env:
            env[_SAVED_PREFIX + v] = env.pop(v)
    env["PN_BENCH_REEXEC"] = "1"
    os.execve(sys.executable, [sys.executable, *sys.argv], env)
for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.linalg  # noqa: E402
import threadpoolctl  # noqa: E402

LENGTHSCALE = 1.0
OUTPUTSCALE = 1.0
NOISE = 1e-2
RTOL_MATRIX = 1e-12
RTOL_LOGDET = 1e-8

ROOT = Path(__file__).resolve().parent.parent


def die(msg: str) -> None:
    print(f"core_vs_numpy: ABORT: {msg}", file=sys.stderr)
    sys.exit(1)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- inputs and the NumPy/SciPy side ------------------------------------------------------------


def points(n: int) -> np.ndarray:
    """x_i = 2 (sin(0.7 i + 0.3), cos(1.3 i)) with libm (math.sin), as Rust's f64::sin."""
    return np.array(
        [[2.0 * math.sin(0.7 * i + 0.3), 2.0 * math.cos(1.3 * i)] for i in range(n)],
        dtype=np.float64,
    )


def np_assemble(x: np.ndarray, ell: float = LENGTHSCALE, sf2: float = OUTPUTSCALE) -> np.ndarray:
    """The squared-exponential Gram matrix with NumPy broadcasting, as a user writes it."""
    d = x[:, None, :] - x[None, :, :]
    return sf2 * np.exp(-0.5 * np.sum(d**2, axis=-1) / ell**2)


def sp_cholesky(a: np.ndarray):
    return scipy.linalg.cho_factor(a, lower=True)


def sp_logdet(cf) -> float:
    return float(2.0 * np.sum(np.log(np.diag(cf[0]))))


def reference_entry(x: np.ndarray, i: int, j: int) -> float:
    """k(x_i, x_j) in pure Python (math.exp), independent of NumPy's vectorised exp."""
    r2 = sum((float(x[i, k]) - float(x[j, k])) ** 2 for k in range(x.shape[1])) / LENGTHSCALE**2
    return OUTPUTSCALE * math.exp(-0.5 * r2)


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


# --- the pn side --------------------------------------------------------------------------------


class Peer:
    """One pn configuration: a timing binary and a thread count."""

    def __init__(self, key: str, label: str, binary: Path, threads: int, saved_env: dict):
        self.key, self.label, self.binary, self.threads = key, label, binary, threads
        env = dict(os.environ)
        env.pop("PN_BENCH_REEXEC", None)
        for k in list(env):
            if k.startswith(_SAVED_PREFIX):
                del env[k]
        env.update(saved_env)  # the caller's OPENBLAS_CORETYPE / L2_SIZE, unchanged for pn
        env["RAYON_NUM_THREADS"] = str(threads)
        env["OPENBLAS_NUM_THREADS"] = str(threads)  # only read by the lapack build
        env["OMP_NUM_THREADS"] = str(threads)
        self.env = env

    def run(self, task: str, n: int) -> dict:
        cmd = [str(self.binary), task, str(n), "1"]
        p = subprocess.run(cmd, env=self.env, capture_output=True, text=True)
        if p.returncode != 0:
            die(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()}")
        out = json.loads(p.stdout.strip().splitlines()[-1])
        if out["threads"] != self.threads:
            die(f"{self.label}: asked for {self.threads} threads, rayon reports {out['threads']}")
        return out


# --- validation ---------------------------------------------------------------------------------


def validate_assemble(label: str, out: dict, ref_checksum: float, x: np.ndarray) -> dict:
    r = rel(out["checksum"], ref_checksum)
    if not r <= RTOL_MATRIX:
        die(f"{label} assemble n={out['n']}: checksum {out['checksum']!r} vs NumPy "
            f"{ref_checksum!r} (rel {r:.2e} > {RTOL_MATRIX:g})")
    worst = 0.0
    for i, j, v in out["entries"]:
        e = rel(v, reference_entry(x, i, j))
        worst = max(worst, e)
        if not e <= RTOL_MATRIX:
            die(f"{label} assemble: K[{i},{j}] = {v!r} vs math.exp reference "
                f"{reference_entry(x, i, j)!r} (rel {e:.2e})")
    return {"checksum_rel_err": r, "entries_max_rel_err": worst}


def validate_cholesky(label: str, out: dict, ref_checksum: float, ref_logdet: float) -> dict:
    rc = rel(out["checksum"], ref_checksum)
    if not rc <= RTOL_MATRIX:
        die(f"{label} cholesky n={out['n']}: Gram-matrix checksum {out['checksum']!r} vs NumPy "
            f"{ref_checksum!r} (rel {rc:.2e})")
    r = rel(out["logdet"], ref_logdet)
    if not r <= RTOL_LOGDET:
        die(f"{label} cholesky n={out['n']}: logdet {out['logdet']!r} vs SciPy {ref_logdet!r} "
            f"(rel {r:.2e} > {RTOL_LOGDET:g})")
    return {"gram_checksum_rel_err": rc, "logdet_rel_err": r}


# --- one configuration --------------------------------------------------------------------------


def bench(task: str, n: int, reps: int, peers: list[Peer]) -> dict:
    log(f"\n== {task} n={n}: validating")
    x = points(n)
    if task == "assemble":
        k = np_assemble(x)  # untimed warm-up, and the reference
        ref = {"checksum": math.fsum(k.ravel().tolist())}
        for i, j in [(0, 1), (n // 2, n // 3), (n - 1, 0), (n - 1, n - 1)]:
            e = rel(float(k[i, j]), reference_entry(x, i, j))
            if not e <= RTOL_MATRIX:
                die(f"NumPy K[{i},{j}] disagrees with the math.exp reference (rel {e:.2e})")
        del k

        def run_np():
            t0 = time.perf_counter()
            k = np_assemble(x)
            t = time.perf_counter() - t0
            c = float(np.sum(k))
            if not rel(c, ref["checksum"]) <= RTOL_MATRIX:
                die("NumPy assembly changed between runs")
            return t

        def check(peer, out):
            return validate_assemble(peer.label, out, ref["checksum"], x)

    else:
        a = np_assemble(x)
        a[np.diag_indices(n)] += NOISE
        cf = sp_cholesky(a)  # untimed warm-up, and the reference
        ref = {"checksum": math.fsum(a.ravel().tolist()), "logdet": sp_logdet(cf)}
        del cf

        def run_np():
            t0 = time.perf_counter()
            cf = sp_cholesky(a)
            t = time.perf_counter() - t0
            if not rel(sp_logdet(cf), ref["logdet"]) <= 1e-13:
                die("SciPy logdet changed between runs")
            return t

        def check(peer, out):
            return validate_cholesky(peer.label, out, ref["checksum"], ref["logdet"])

    validation = {}
    for peer in peers:  # before any timing: one (warm-up) run of every peer, checked
        validation[peer.key] = check(peer, peer.run(task, n))
        log(f"   {peer.label}: ok {validation[peer.key]}")

    log(f"== {task} n={n}: timing, {reps} alternating repetitions")
    load_start = os.getloadavg()
    samples: dict[str, list[float]] = {"numpy": []}
    for peer in peers:
        samples[peer.key] = []
    for rep in range(reps):
        for idx, peer in enumerate(peers):
            out = peer.run(task, n)
            check(peer, out)
            samples[peer.key].append(out["seconds"][0])
            if idx == 0:  # the reference right after the headline peer
                samples["numpy"].append(run_np())
        line = ", ".join(f"{k} {v[-1]:.4f}s" for k, v in samples.items())
        log(f"   rep {rep + 1}/{reps}: {line}")

    med = {k: statistics.median(v) for k, v in samples.items()}
    result = {
        "task": task,
        "n": n,
        "d": 2,
        "reps": reps,
        "reference": ref,
        "validation": validation,
        "samples_s": samples,
        "loadavg_start_end": [load_start, os.getloadavg()],
        "median_s": med,
        "min_s": {k: min(v) for k, v in samples.items()},
        "max_s": {k: max(v) for k, v in samples.items()},
    }
    # Ratios of medians; "numpy_over_pn" > 1 means pn is faster.
    result["numpy_over_pn"] = {p.key: med["numpy"] / med[p.key] for p in peers}
    result["pn_over_numpy"] = {p.key: med[p.key] / med["numpy"] for p in peers}
    # Paired ratios per repetition (neighbours in time), to show the spread.
    result["paired_numpy_over_pn"] = {
        p.key: [a / b for a, b in zip(samples["numpy"], samples[p.key])] for p in peers
    }
    return result


# --- machine description ------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def command_output(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def machine(saved_env: dict) -> dict:
    info = threadpoolctl.threadpool_info()
    for lib in info:  # no machine-specific paths in the results
        lib["filepath"] = Path(lib.get("filepath", "")).name
    return {
        "git_commit": command_output(["git", "rev-parse", "--short", "HEAD"]),
        "pn_core_src_modified": bool(
            command_output(["git", "status", "--porcelain", "crates/pn-core/src"])
        ),
        "rustc": command_output(["rustc", "--version"]),
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "threadpoolctl": info,
        "openblas_overrides_unset_for_numpy": saved_env,
        "loadavg_start": os.getloadavg(),
    }


# --- plot ---------------------------------------------------------------------------------------


def plot(results: list[dict], labels: dict[str, str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "pn-core-vs-numpy"
    import matplotlib.pyplot as plt

    colors = {"numpy": "#4c72b0", "pn1": "#dd8452", "pn2": "#c44e52", "pnlapack1": "#55a868"}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.4))
    asm = [r for r in results if r["task"] == "assemble"]
    if asm:
        r = asm[0]
        keys = list(r["median_s"])
        vals = [r["median_s"][k] * 1e3 for k in keys]
        names = ["NumPy" if k == "numpy" else labels[k] for k in keys]
        lows = [r["min_s"][k] * 1e3 for k in keys]
        highs = [r["max_s"][k] * 1e3 for k in keys]
        bars = ax1.bar(names, vals, color=[colors.get(k, "gray") for k in keys])
        ax1.errorbar(range(len(keys)), vals, fmt="none", ecolor="black", capsize=3, lw=0.8,
                     yerr=[[v - lo for v, lo in zip(vals, lows)],
                           [hi - v for v, hi in zip(vals, highs)]],
                     label="min-max over repetitions")
        for b, k, v, hi in zip(bars, keys, vals, highs):
            note = f"{v:.0f} ms" if k == "numpy" else f"{v:.0f} ms\n{r['numpy_over_pn'][k]:.1f}x"
            ax1.annotate(note, (b.get_x() + b.get_width() / 2, hi), ha="center", va="bottom",
                         fontsize=8)
        goal = r["median_s"]["numpy"] * 1e3 / 10
        ax1.axhline(goal, color="black", ls="--", lw=0.8, label="goal: 10x faster than NumPy")
        ax1.legend(fontsize=7, loc="upper right")
        ax1.set_ylabel("median time [ms]")
        ax1.set_title(f"SE kernel matrix, n = {r['n']}, d = 2", fontsize=10)
        ax1.tick_params(axis="x", labelsize=8)
        ax1.set_ylim(0, max(highs) * 1.15)
    chol = sorted((r for r in results if r["task"] == "cholesky"), key=lambda r: r["n"])
    if chol:
        keys = [k for k in chol[0]["median_s"] if k != "numpy"]
        width = 0.8 / len(keys)
        for i, k in enumerate(keys):
            xs = [j + (i - (len(keys) - 1) / 2) * width for j in range(len(chol))]
            vals = [r["pn_over_numpy"][k] for r in chol]
            bars = ax2.bar(xs, vals, width, label=labels[k], color=colors.get(k, "gray"))
            for b, v in zip(bars, vals):
                ax2.annotate(f"{v:.2f}", (b.get_x() + b.get_width() / 2, v), ha="center",
                             va="bottom", fontsize=7)
        ax2.axhline(1.0, color=colors["numpy"], lw=1.2, label="SciPy cho_factor (1 thread) = 1")
        ax2.axhline(1.2, color="black", ls="--", lw=0.8, label="goal: within 1.2x")
        ax2.set_xticks(range(len(chol)))
        ax2.set_xticklabels([f"n = {r['n']}\nSciPy {r['median_s']['numpy']:.3g} s" for r in chol],
                            fontsize=8)
        ax2.set_ylabel("median time / SciPy median time")
        ax2.set_title("Cholesky of K + 1e-2 I (lower is better)", fontsize=10)
        ax2.legend(fontsize=7, loc="upper right")
        ax2.set_ylim(0, max(max(r["pn_over_numpy"].values()) for r in chol) * 1.35)
    fig.suptitle("pn-core vs NumPy/SciPy: same machine, one run, sides alternated (medians)",
                 fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix.lstrip(".").lower() or "svg"
    fig.savefig(path, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    plt.close(fig)


# --- main ---------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", type=Path, default=ROOT / "target/release/examples/timing",
                    help="pn timing binary (default build, faer backend)")
    ap.add_argument("--lapack-bin", type=Path, default=None,
                    help="optional pn timing binary built with --features lapack")
    ap.add_argument("--assemble-n", type=int, nargs="*", default=[4000])
    ap.add_argument("--cholesky-n", type=int, nargs="*", default=[2000, 4000, 8000])
    ap.add_argument("--reps", type=int, default=7, help="repetitions per configuration")
    ap.add_argument("--reps-large", type=int, default=3,
                    help="repetitions for Cholesky with n >= 8000")
    ap.add_argument("--out", type=Path, default=ROOT / "benches/results/core.json")
    ap.add_argument("--plot", type=Path, default=ROOT / "docs/img/core-vs-numpy.svg")
    args = ap.parse_args()

    saved_env = {k[len(_SAVED_PREFIX):]: v for k, v in os.environ.items()
                 if k.startswith(_SAVED_PREFIX)}
    for v in _OVERRIDES:
        if v in os.environ:
            die(f"{v} is still set for the NumPy side")
    info = threadpoolctl.threadpool_info()
    log("threadpoolctl.threadpool_info():")
    for lib in info:
        log(f"   {lib.get('internal_api')} {lib.get('version')} "
            f"architecture={lib.get('architecture')} num_threads={lib.get('num_threads')} "
            f"({Path(lib.get('filepath', '')).name})")
        if lib.get("num_threads") != 1:
            die(f"{lib.get('filepath')} runs {lib.get('num_threads')} threads, expected 1")
    if saved_env:
        log(f"unset for NumPy/SciPy only (kept for pn): {saved_env}")

    if not args.bin.exists():
        die(f"{args.bin} not found: build it with "
            "`cargo build --release -p pn-core --example timing`")
    peers = [
        Peer("pn1", "pn (1 thread)", args.bin, 1, saved_env),
        Peer("pn2", "pn (2 threads)", args.bin, 2, saved_env),
    ]
    if args.lapack_bin is not None:
        if not args.lapack_bin.exists():
            die(f"{args.lapack_bin} not found")
        peers.append(Peer("pnlapack1", "pn lapack (1 thread)", args.lapack_bin, 1, saved_env))
    labels = {"numpy": "NumPy/SciPy (1 thread)", **{p.key: p.label for p in peers}}

    meta = machine(saved_env)
    t_start = time.time()
    results = []
    for n in args.assemble_n:
        results.append(bench("assemble", n, args.reps, peers))
    for n in args.cholesky_n:
        reps = args.reps_large if n >= 8000 else args.reps
        results.append(bench("cholesky", n, reps, peers))
    meta["loadavg_end"] = os.getloadavg()
    meta["wall_s"] = time.time() - t_start

    doc = {"machine": meta, "labels": labels, "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    plot(results, labels, args.plot)

    print(f"\n{'task':<9} {'n':>5} " + " ".join(f"{labels[k]:>24}" for k in labels))
    for r in results:
        cells = []
        for k in labels:
            t = r["median_s"][k]
            if k == "numpy":
                cells.append(f"{t:>23.4f}s")
            else:
                ratio = r["numpy_over_pn"][k]
                cells.append(f"{t:>10.4f}s ({ratio:5.2f}x np/pn)")
        print(f"{r['task']:<9} {r['n']:>5} " + " ".join(f"{c:>24}" for c in cells))
    print(f"\nwrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}"
          f" and {args.plot.relative_to(ROOT) if args.plot.is_relative_to(ROOT) else args.plot}")


if __name__ == "__main__":
    main()
