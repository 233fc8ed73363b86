"""Writes the Wisconsin diagnostic breast-cancer data set bundled with scikit-learn to
crates/pn-mcmc/data/breast_cancer.csv (569 rows: 30 features, then the class: 1 = benign,
0 = malignant), used by the Bayesian logistic-regression model of pn_mcmc::models.

Source: W. N. Street, W. H. Wolberg, O. L. Mangasarian (1993), UCI Machine Learning Repository,
https://doi.org/10.24432/C5DW2B (CC BY 4.0); copied unchanged from sklearn.datasets.

Usage: $(benches/setup_venv.sh | tail -1) benches/mcmc_breast_cancer_data.py
"""

import pathlib

import numpy as np
import sklearn
from sklearn.datasets import load_breast_cancer

out = pathlib.Path(__file__).resolve().parent.parent / "crates/pn-mcmc/data/breast_cancer.csv"
data = load_breast_cancer()
header = ",".join(n.replace(" ", "_") for n in data.feature_names) + ",benign"
table = np.column_stack([data.data, data.target])
fmt = ["%.10g"] * data.data.shape[1] + ["%d"]
np.savetxt(out, table, delimiter=",", header=header, comments="", fmt=fmt)
print(f"wrote {out} ({table.shape[0]} rows) from scikit-learn {sklearn.__version__}")
