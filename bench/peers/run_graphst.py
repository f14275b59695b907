#!/usr/bin/env python
"""One GraphST run: python run_graphst.py --section S --seed K [--out peers.jsonl] [--epochs 600]

Run with /work/peer_venvs/graphst/bin/python (graphst-modern, same API as GraphST 1.1.1).

Follows the GraphST DLPFC tutorial: GraphST(adata, device=cpu, random_seed=seed) with its own
preprocessing (3000 HVGs seurat_v3 on counts, normalize_total 1e4, log1p, scale), 600 epochs,
then `clustering(adata, n_clusters, radius=50, method='mclust', refinement=True)`:
PCA(20, random_state=42) of the embedding -> mclust 'EEE' -> refine_label(radius=50).

Deviation: R's mclust is not used (no R here). mclust 'EEE' (ellipsoidal, equal volume, shape and
orientation = one shared full covariance) is replaced by sklearn
GaussianMixture(covariance_type='tied', random_state=seed) on the same 20-d PCA. Refinement as in
the tutorial (refinement=True, GraphST refine_label radius 50); unrefined scores are kept in
'ari_unrefined' / 'nmi_unrefined'.

BRCA: not applicable (GraphST's pipeline needs raw counts for seurat_v3 HVGs and log-normalisation;
only a 200-d PCA is available) -> a 'not_applicable' line is written.
"""
import peer_common as pc  # sets the 1-thread env vars first


def extra(p):
    p.add_argument("--epochs", type=int, default=600)


def body(args, rec):
    import time
    import numpy as np
    import pandas as pd
    import torch
    torch.set_num_threads(1)
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture

    adata, label_key, k, has_counts = pc.load_section(args.section)
    if not has_counts:
        rec["status"] = "not_applicable"
        rec["notes"] = ("GraphST needs raw counts (seurat_v3 HVGs on counts, normalize_total+log1p+scale); "
                        "this section has only a 200-d PCA (0 genes)")
        return None
    from GraphST.GraphST import GraphST
    from GraphST.utils import refine_label

    pc.set_seed(args.seed)
    truth = adata.obs[label_key].astype(object).to_numpy()
    t0 = time.time()
    a = adata.copy()
    a.obsm["spatial"] = np.asarray(a.obsm["spatial"], dtype=float)
    model = GraphST(a, device=torch.device("cpu"), epochs=args.epochs, random_seed=args.seed)
    a = model.train()
    emb_pca = PCA(n_components=20, random_state=42).fit_transform(a.obsm["emb"].copy())
    gmm = GaussianMixture(n_components=k, covariance_type="tied", random_state=args.seed)
    raw = gmm.fit_predict(emb_pca)
    a.obs["domain"] = pd.Categorical(raw.astype(str))
    refined = np.asarray(refine_label(a, radius=50, key="domain"))
    rec["fit_s"] = round(time.time() - t0, 3)
    ari_u, nmi_u, _ = pc.score(truth, raw)
    rec["ari_unrefined"], rec["nmi_unrefined"] = ari_u, nmi_u
    rec["refinement"] = True
    rec["params"] = {"epochs": args.epochs, "random_seed": args.seed, "dim_output": 64,
                     "pca_dims": 20, "clusterer": "sklearn GaussianMixture(tied)", "refine_radius": 50,
                     "n_hvg": 3000}
    rec["notes"] = ("GraphST tutorial pipeline on CPU (1 thread); R mclust 'EEE' replaced by sklearn "
                    "GaussianMixture(covariance_type='tied') on PCA-20 of the embedding; main labels = "
                    "refined (refine_label radius 50, as the DLPFC tutorial); unrefined in ari_unrefined")
    rec["_truth"] = truth
    return pd.Series(refined.astype(int), index=adata.obs_names)


if __name__ == "__main__":
    raise SystemExit(pc.run_main("graphst", body,
                                 ["graphst-modern", "torch", "scanpy", "anndata", "numpy",
                                  "scikit-learn", "scikit-misc", "POT"], extra))
