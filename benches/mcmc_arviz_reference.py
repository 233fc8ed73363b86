"""Reference values of ArviZ's convergence diagnostics on a fixed small set of chains, for the
pn-mcmc test `diagnostics_equal_arviz` (crates/pn-mcmc/tests/diagnostics.rs).

Writes crates/pn-mcmc/tests/data/arviz_reference.json: the chains (generated here with NumPy,
seeded) and, per case, ArviZ's rank-normalised split R-hat, bulk/tail/mean/sd/quantile ESS, MCSE
of mean, sd and quantiles, the 94 % HDI, and the energy BFMI.

Usage: $(benches/setup_venv.sh arviz | tail -1) benches/mcmc_arviz_reference.py
"""

import json
import pathlib
import warnings

import numpy as np

warnings.filterwarnings("ignore")
import arviz as az  # noqa: E402

COMMAND = "$(benches/setup_venv.sh arviz | tail -1) benches/mcmc_arviz_reference.py"
out = pathlib.Path(__file__).resolve().parent.parent / "crates/pn-mcmc/tests/data/arviz_reference.json"
rng = np.random.default_rng(20240611)


def ar1(m, n, phi, offsets=None):
    x = np.zeros((m, n))
    x[:, 0] = rng.normal(size=m) / np.sqrt(1 - phi**2)
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + rng.normal(size=m)
    if offsets is not None:
        x += np.asarray(offsets)[:, None]
    return x


cases = {
    "iid_normal": rng.normal(size=(4, 100)),
    "ar1_phi0.7": ar1(4, 100, 0.7),
    "ar1_phi0.95_odd": ar1(3, 151, 0.95),
    "shifted_chains": ar1(4, 60, 0.3, offsets=[0.0, 0.0, 1.5, 1.5]),
    "heavy_tails": rng.standard_t(2, size=(4, 80)),
    "ties": np.round(rng.normal(size=(2, 64)), 1),
    "skewed": rng.exponential(size=(4, 75)) ** 2,
}
probs = [0.05, 0.5, 0.95]
result = {"command": COMMAND, "arviz": az.__version__, "numpy": np.__version__, "cases": []}
for name, x in cases.items():
    entry = {
        "name": name,
        "chains": x.tolist(),
        "rhat": float(az.rhat(x, method="rank")),
        "rhat_bulk": float(az.rhat(x, method="z_scale")),
        "ess_bulk": float(az.ess(x, method="bulk")),
        "ess_tail": float(az.ess(x, method="tail")),
        "ess_mean": float(az.ess(x, method="mean")),
        "ess_sd": float(az.ess(x, method="sd")),
        "ess_quantile": [float(az.ess(x, method="quantile", prob=p)) for p in probs],
        "mcse_mean": float(az.mcse(x, method="mean")),
        "mcse_sd": float(az.mcse(x, method="sd")),
        "mcse_quantile": [float(az.mcse(x, method="quantile", prob=p)) for p in probs],
        "quantile_probs": probs,
        "hdi_94": [float(v) for v in az.hdi(x.ravel(), hdi_prob=0.94)],
        "bfmi": [float(v) for v in az.bfmi(x)],
        "mean": float(x.mean()),
        "sd": float(x.std(ddof=1)),
    }
    result["cases"].append(entry)
out.write_text(json.dumps(result, indent=1) + "\n")
print(f"wrote {out.name}: {len(cases)} cases, ArviZ {az.__version__}")
