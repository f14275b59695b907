"""Benchmark spatial_vae against the non-spatial floor and its seed configuration on the annotated real sections.

Resumable: every (method, section, seed) run appends one JSON line to bench/results/spatial_vae.jsonl and is skipped
when already there. Peers run from bench/peers/ (own venvs) into bench/results/peers.jsonl. `--table` prints and
writes the markdown table and JSON summary of both files; `--figure` draws the domain maps side by side.

    uv run python bench/run.py              # run what is missing (10 seeds per method and section)
    uv run python bench/run.py --table --figure
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
OURS = RESULTS / "spatial_vae.jsonl"
SECTIONS = {  # name: (file under the shared data folder, label column, features key or None for counts)
    "DLPFC_151673": ("DLPFC_151673/DLPFC_151673.h5ad", "layer_guess_reordered", None),
    "DLPFC_151674": ("DLPFC_151674/DLPFC_151674.h5ad", "layer_guess_reordered", None),
    "BRCA_V1_Block_A_Section_1": ("BRCA_V1_Block_A_Section_1_annot/BRCA_V1_Block_A_Section_1_annot.h5ad", "fine_annot_type", "X_pca_ccst"),
}
# named presets: keyword overrides of settings.ini for the pipeline's training and clustering
METHODS = {
    "spatial_vae": {},                                                     # the defaults
    "seed_vae": {"neighbour_context": False, "lambda_spatial": 1.0, "cluster_method": "leiden"},   # the seed's configuration
    "pca_leiden": None, "pca_kmeans": None, "pca_gmm": None,               # non-spatial floor on the same PCA
}


def done_runs() -> set:
    if not OURS.exists(): return set()
    return {(r["method"], r["section"], r["seed"]) for r in map(json.loads, OURS.read_text().splitlines())}


def run_one(method: str, section: str, seed: int) -> dict:
    import anndata as ad
    from spatial_vae.data import preprocess, shared_data_dir
    from spatial_vae.evaluation import find_domains, score_domains, spatial_coherence
    from spatial_vae.graph import spatial_edges
    from spatial_vae.pipeline import merged_settings, training_arguments
    from spatial_vae.training import train_spatial_vae
    file, label_key, features_key = SECTIONS[section]
    t0 = time.perf_counter()
    adata = ad.read_h5ad(shared_data_dir() / file)
    labels = adata.obs[label_key].astype("category").cat.remove_unused_categories()
    n_domains = labels.nunique()
    if features_key is None:
        d = merged_settings()["data"]
        preprocess(adata, min_counts=d["min_counts"], min_genes=d["min_genes"], min_cells=d["min_cells"],
                   target_sum=d["target_sum"], n_top_genes=d["n_top_genes"], n_pcs=d["n_pcs"], seed=seed)
        features_key = "X_pca"
    edges = spatial_edges(adata)
    if METHODS[method] is None:
        find_domains(adata, use_rep=features_key, method=method.split("_")[1], n_domains=n_domains, seed=seed)
    else:
        s = merged_settings({**METHODS[method], "seed": seed})
        train_spatial_vae(adata, edges, features_key=features_key, progress=False, **training_arguments(s))
        find_domains(adata, method=s["evaluation"]["cluster_method"], n_domains=n_domains, seed=seed)
    wall = time.perf_counter() - t0
    scores = score_domains(adata, label_key)
    out = RESULTS / "labels"; out.mkdir(parents=True, exist_ok=True)
    adata.obs[["spatial_vae_domain"]].rename(columns={"spatial_vae_domain": "domain"}).to_csv(out / f"{method}_{section}_seed{seed}.csv", index_label="barcode")
    return {"method": method, "section": section, "seed": seed, **scores, "n_domains": int(n_domains),
            "spatial_coherence": spatial_coherence(adata, edges), "wall_s": round(wall, 2),
            "peak_mem_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "refinement": False, "status": "ok", "notes": "peak_mem_mb: peak RSS of the process running this method's seeds"}


def run_missing(methods, sections, seeds) -> None:
    have = done_runs()
    OURS.parent.mkdir(parents=True, exist_ok=True)
    for section in sections:
        for method in methods:
            for seed in seeds:
                if (method, section, seed) in have: continue
                row = run_one(method, section, seed)
                with open(OURS, "a") as f: f.write(json.dumps(row) + "\n")
                print(f"{method:12s} {section:28s} seed {seed}: ARI {row['ari']:.3f} NMI {row['nmi']:.3f} {row['wall_s']:.1f}s", flush=True)


def load_all() -> pd.DataFrame:
    rows = []
    for path in (OURS, RESULTS / "peers.jsonl"):
        if path.exists(): rows += [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
    df = pd.DataFrame(rows)
    return df[df["status"] == "ok"]


def table() -> pd.DataFrame:
    df = load_all()
    g = df.groupby(["section", "method"])
    summary = pd.DataFrame({"runs": g.size(), "ARI mean": g.ari.mean(), "ARI median": g.ari.median(), "ARI sd": g.ari.std(),
                            "NMI mean": g.nmi.mean(), "NMI sd": g.nmi.std(), "wall s (median)": g.wall_s.median(),
                            "peak MB": g.peak_mem_mb.max(), "refinement": g.refinement.any()}).round(3)
    summary = summary.sort_values(["section", "ARI mean"], ascending=[True, False])
    (RESULTS / "summary.json").write_text(summary.reset_index().to_json(orient="records", indent=1))
    flat = summary.reset_index()
    lines = ["| " + " | ".join(flat.columns) + " |", "|" + "---|" * len(flat.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in flat.itertuples(index=False)]
    text = "\n".join(lines)
    (HERE / "table.md").write_text("# Benchmark: ARI/NMI over seeds, annotated spots only\n\n" + text + "\n")
    print(text)
    return summary


def figure() -> None:
    import anndata as ad
    import matplotlib; matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from spatial_vae.data import shared_data_dir
    df = load_all()
    methods = ["spatial_vae", "seed_vae", "pca_gmm", "spagcn", "banksy", "graphst", "stagate"]
    fig, axes = plt.subplots(len(SECTIONS), len(methods) + 1, figsize=(2.6 * (len(methods) + 1), 2.8 * len(SECTIONS)))
    for row, (section, (file, label_key, _)) in enumerate(SECTIONS.items()):
        adata = ad.read_h5ad(shared_data_dir() / file)
        xy = adata.obsm["spatial"]
        panels = [("ground truth", adata.obs[label_key].astype(str).to_numpy())]
        for m in methods:
            runs = df[(df.method == m) & (df.section == section)]
            path = RESULTS / "labels" / (f"{m}_{section}_seed{int(runs.seed.min())}.csv" if len(runs) else "none")
            if path.exists():
                lab = pd.read_csv(path, index_col=0)["domain"].astype(str).reindex(adata.obs_names).to_numpy()
                panels.append((f"{m}\nARI {runs.ari.mean():.2f}", lab))
            else:
                panels.append((f"{m}\n(not run)", None))
        for ax, (title, lab) in zip(axes[row], panels):
            ax.set_axis_off(); ax.set_title(title if row or True else title, fontsize=8)
            if lab is not None:
                codes = pd.factorize(lab)[0]
                ax.scatter(xy[:, 0], xy[:, 1], c=codes, cmap="tab20", s=1.5, rasterized=True)
                ax.invert_yaxis(); ax.set_aspect("equal")
        axes[row][0].text(-0.1, 0.5, section, transform=axes[row][0].transAxes, rotation=90, va="center", ha="right", fontsize=9)
    fig.tight_layout()
    fig.savefig(HERE / "domains.png", dpi=70)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", nargs="*", default=list(METHODS))
    p.add_argument("--sections", nargs="*", default=list(SECTIONS))
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--table", action="store_true"); p.add_argument("--figure", action="store_true")
    a = p.parse_args()
    if a.table or a.figure:
        if a.table: table()
        if a.figure: figure()
    else:
        run_missing(a.methods, a.sections, range(a.seeds))
