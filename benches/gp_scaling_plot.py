#!/usr/bin/env python3
"""Redraw docs/img/gp-scaling.svg from benches/results/gp_scaling.json (written by
`cargo run --release -p pn-linalg --example gp_scaling`, which also draws the figure itself).

Usage: benches/.venv/bin/python benches/gp_scaling_plot.py
"""
import json
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parent.parent
data = json.loads((ROOT / "benches/results/gp_scaling.json").read_text())
series = [
    ("state space", "state space (mean, var, lml)", "C0", "o-"),
    ("state space, random inputs", "state space, unsorted random inputs", "C9", "o-"),
    ("dense (ExactGp::new: K, Cholesky, alpha, lml)", "dense Cholesky (lml, mean)", "C3", "s-"),
    ("dense (+ mean and variance at the inputs)", "dense (+ variances at the inputs)", "C6", "s-"),
    ("Toeplitz (FFT + CG, mean only)", "Toeplitz FFT + CG (mean only)", "C2", "^-"),
    ("pn-filter general smoother", "state space via pn-filter's general priors", "0.5", "d-"),
]
fig, ax = plt.subplots(figsize=(7.5, 5))
for key, label, color, style in series:
    rows = [r for r in data["rows"] if r["path"] == key]
    if rows:
        ax.loglog([r["n"] for r in rows], [statistics.median(r["seconds"]) for r in rows], style, color=color, label=label, ms=4)
ss = [r for r in data["rows"] if r["path"] == "state space"]
if ss:
    n0, t0 = ss[0]["n"], statistics.median(ss[0]["seconds"])
    ax.loglog([n0, 1e6], [t0, t0 * 1e6 / n0], color="k", lw=0.8, alpha=0.4, label="∝ n")
ax.set_xlabel("n (training points)")
ax.set_ylabel("seconds (median)")
ax.set_title("1-D Matérn-3/2 GP: time against n")
ax.grid(True, which="both", alpha=0.3)
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(ROOT / "docs/img/gp-scaling.svg")
print("wrote docs/img/gp-scaling.svg")
