"""What the model needs at Visium HD depth: bins summed into squares, the default pipeline on the squares, each bin
given its square's domain, scored against the bins' own labels.

This is how `bin_size = 48` (settings.ini) was chosen: on realistic 8 µm sections (bench/hd_sections.py) the default
on the bins themselves scored ARI 0.10 (bench/scaling.md); this script measures the squares. Appends one JSON line
per run to bench/results/hd_diagnosis.jsonl.

    uv run python bench/hd_diagnosis.py DLPFC_151673_hd008um 48 [seed]
"""
import json
import sys
import time
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
from sklearn.metrics import adjusted_rand_score

HERE = Path(__file__).resolve().parent


def main(name: str, square_um: float, seed: int = 0) -> dict:
    warnings.filterwarnings("ignore")
    from spatial_vae.data import pool_bins
    from spatial_vae.pipeline import run_pipeline
    t0 = time.time()
    bins = ad.read_h5ad(HERE / "results" / "hd_data" / f"{name}.h5ad")
    label = bins.uns["ground_truth_key"]
    squares = pool_bins(bins, square_um)
    pooled = squares.uns["spatial_vae_pooled"]
    k = int(round(pooled["square_um"] / pooled["bin_size_um"]))           # bins per square side, as pool_bins grouped them
    res = run_pipeline(squares, n_domains=bins.obs[label].nunique(), label_key=label, seed=seed, progress=False)
    domain = res.adata.obs["spatial_vae_domain"].astype(str)
    key = (bins.obs["array_row"].to_numpy() // k) * 100_000 + bins.obs["array_col"].to_numpy() // k
    sq_key = res.adata.obs["array_row"].to_numpy() * 100_000 + res.adata.obs["array_col"].to_numpy()
    lookup = dict(zip(sq_key, domain))
    per_bin = np.array([lookup.get(x, "none") for x in key])
    scored = bins.obs[label].notna().to_numpy()
    row = {"section": name, "square_um": square_um, "seed": seed, "bins": int(bins.n_obs), "squares": int(squares.n_obs),
           "median_umis_square": float(np.median(np.asarray(squares.X.sum(1)).ravel())),
           "ari_bins": round(adjusted_rand_score(bins.obs[label].astype(str).to_numpy()[scored], per_bin[scored]), 3),
           "ari_squares": round(res.metrics["ari"], 3), "ensemble": res.metrics["ensemble"],
           "timings_s": res.metrics["timings_s"], "wall_s": round(time.time() - t0, 1)}
    with open(HERE / "results" / "hd_diagnosis.jsonl", "a") as f: f.write(json.dumps(row) + "\n")
    return row


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 0)))
