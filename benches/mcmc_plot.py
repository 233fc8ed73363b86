"""Figure of the MCMC comparisons from benches/results/mcmc_vs_nuts_rs.csv and
benches/results/mcmc_vs_emcee.csv -> docs/img/mcmc-vs-peers.svg (medians over seeds; ratios
pn / peer of bulk ESS per gradient evaluation (all, warm-up included), per sampling-phase
gradient, and per second). pn's rows: "default" (gradient-based diagonal metric, continuous
schedule), "stan" (AdaptOptions::stan(): Stan's diag_e warm-up), "dense".

Usage: $(benches/setup_venv.sh | tail -1) benches/mcmc_plot.py
"""

import csv
import pathlib
import statistics

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt  # noqa: E402

root = pathlib.Path(__file__).resolve().parent
rows = list(csv.DictReader(open(root / "results" / "mcmc_vs_nuts_rs.csv")))
cases = []
for target, pn_metric, peer_metric in [("diag100", "default", "diag"), ("diag100", "stan", "diag"),
                                       ("corr10", "default", "diag"), ("corr10", "dense", "low-rank"),
                                       ("funnel-nc", "default", "diag"), ("eight-schools", "default", "diag")]:
    def med(sampler, metric, key):
        return statistics.median(float(r[key]) for r in rows if r["target"] == target
                                 and r["sampler"] == sampler and r["metric"] == metric
                                 and r["valid"] in ("true", "no-truth"))
    if not any(r["target"] == target and r["metric"] == pn_metric for r in rows):
        continue
    ratios = [med("pn-mcmc", pn_metric, k) / med("nuts-rs", peer_metric, k)
              for k in ("ess_per_grad_total", "ess_per_grad_sampling", "ess_per_second")]
    cases.append((f"{target}\npn {pn_metric} / nuts-rs {peer_metric}", ratios))
em = list(csv.DictReader(open(root / "results" / "mcmc_vs_emcee.csv")))
eps = {t: statistics.median(float(r["ess_per_second"]) for r in em if r["tool"] == t and r["valid"] == "True")
       for t in ("pn", "emcee")}

fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.4), gridspec_kw={"width_ratios": [4, 1]})
w = 0.26
labels = ["ESS / gradient (all)", "ESS / gradient (sampling)", "ESS / second"]
for k in range(3):
    ax.bar([i + (k - 1) * w for i in range(len(cases))], [c[1][k] for c in cases], w, label=labels[k])
ax.axhline(1.0, color="k", lw=1, ls="--")
ax.set_xticks(range(len(cases)), [c[0] for c in cases], fontsize=7)
ax.set_ylabel("pn-mcmc / nuts-rs 0.19 (median of 3 seeds)")
ax.set_title("NUTS: min bulk ESS efficiency relative to nuts-rs (>1: pn better)")
ax.legend(fontsize=8)
ax2.bar([0], [eps["pn"] / eps["emcee"]], color="C3")
ax2.axhline(20, color="k", lw=1, ls="--")
ax2.set_xticks([0], ["corr10\nensemble"], fontsize=8)
ax2.set_title("pn / emcee ESS per s")
fig.tight_layout()
out = root.parent / "docs" / "img" / "mcmc-vs-peers.svg"
fig.savefig(out)
print(f"wrote {out.name}")
