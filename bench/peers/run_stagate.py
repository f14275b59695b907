#!/usr/bin/env python
"""One STAGATE run: python run_stagate.py --section S --seed K [--out peers.jsonl] [--epochs 1000]

Run with /work/peer_venvs/stagate/bin/python (stagate-modern = STAGATE_pyG API, + torch_geometric).

Follows the STAGATE_pyG DLPFC tutorial: 3000 HVGs (seurat_v3 on counts), normalize_total 1e4,
log1p; Cal_Spatial_Net(rad_cutoff=150) on full-res pixel coordinates; train_STAGATE (hidden
[512, 30], 1000 epochs, lr 1e-3, random_seed = seed); mclust 'EEE' on the 30-d embedding with
the number of annotated domains. No refinement (the tutorial does none).

Deviation: R's mclust is not used (no R here). mclust 'EEE' is replaced by sklearn
GaussianMixture(covariance_type='tied', random_state=seed) on the same embedding.

BRCA: not applicable (needs raw counts for seurat_v3 HVGs and log-normalised expression to
reconstruct; only a 200-d PCA is available) -> a 'not_applicable' line is written.
"""
import peer_common as pc  # sets the 1-thread env vars first


def extra(p):
    p.add_argument("--epochs", type=int, default=1000)
    p.add_argument("--rad-cutoff", type=float, default=150.0)


def body(args, rec):
    import contextlib
    import io
    import time
    import numpy as np
    import pandas as pd
    import torch
    torch.set_num_threads(1)
    import scanpy as sc
    from sklearn.mixture import GaussianMixture

    adata, label_key, k, has_counts = pc.load_section(args.section)
    if not has_counts:
        rec["status"] = "not_applicable"
        rec["notes"] = ("STAGATE's pipeline needs raw counts (seurat_v3 HVGs, normalize_total+log1p "
                        "expression to reconstruct); this section has only a 200-d PCA (0 genes)")
        return None
    import STAGATE_pyG as STAGATE

    pc.set_seed(args.seed)
    truth = adata.obs[label_key].astype(object).to_numpy()
    t0 = time.time()
    a = adata.copy()
    a.obsm["spatial"] = np.asarray(a.obsm["spatial"], dtype=float)
    sc.pp.highly_variable_genes(a, flavor="seurat_v3", n_top_genes=3000)
    sc.pp.normalize_total(a, target_sum=1e4)
    sc.pp.log1p(a)
    with contextlib.redirect_stdout(io.StringIO()) as buf:
        STAGATE.Cal_Spatial_Net(a, rad_cutoff=args.rad_cutoff)
    stats = STAGATE.Stats_Spatial_Net(a)
    a = STAGATE.train_STAGATE(a, n_epochs=args.epochs, random_seed=args.seed, device="cpu",
                              verbose=False)
    emb = a.obsm["STAGATE"]
    gmm = GaussianMixture(n_components=k, covariance_type="tied", random_state=args.seed)
    labels = gmm.fit_predict(emb)
    rec["fit_s"] = round(time.time() - t0, 3)
    rec["refinement"] = False
    rec["params"] = {"epochs": args.epochs, "rad_cutoff": args.rad_cutoff, "hidden_dims": [512, 30],
                     "n_hvg": 3000, "clusterer": "sklearn GaussianMixture(tied)",
                     "mean_neighbors": round(stats["mean_neighbors"], 3)}
    rec["notes"] = ("STAGATE_pyG tutorial pipeline on CPU (1 thread); R mclust 'EEE' replaced by sklearn "
                    "GaussianMixture(covariance_type='tied') on the 30-d STAGATE embedding; no refinement")
    rec["_truth"] = truth
    return pd.Series(labels.astype(int), index=adata.obs_names)


if __name__ == "__main__":
    raise SystemExit(pc.run_main("stagate", body,
                                 ["stagate-modern", "torch", "torch-geometric", "scanpy", "anndata",
                                  "numpy", "scikit-learn", "scikit-misc"], extra))
