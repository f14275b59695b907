#!/usr/bin/env python
"""One BANKSY (pybanksy) run: python run_banksy.py --section S --seed K [--out peers.jsonl]

Run with /work/peer_venvs/banksy/bin/python (see setup_envs.sh).

Settings follow the Banksy_py DLPFC tutorial (DLPFC_harmony_multisample): library-size
normalisation (scanpy normalize_total, no log), 2000 HVGs, k_geom = 18 spatial neighbours
with 'scaled_gaussian' decay, lambda = 0.2, max_m = 1 (azimuthal Gabor filter on),
PCA to 20 dims, Leiden on a 50-NN shared-NN graph (Banksy's LeidenPartition), with the
resolution searched so that the number of clusters equals the number of annotated
domains (as the tutorial does when it picks the run with the target number of labels).
The seed drives numpy (randomised PCA) and the Leiden partition seed.

Deviations (recorded in 'notes'):
* HVGs: the tutorial loads R/Seurat-derived HVG lists that are not available; we use
  scanpy highly_variable_genes(flavor='seurat') on a log1p copy (2000 genes).
* The main 'ari'/'nmi' are for the raw Leiden labels (refinement=False). Banksy's optional
  label refinement (refine_once, num_neigh = k_geom) is also scored and reported in
  'ari_refined'/'nmi_refined' (no labels written for it).
* BRCA: no counts; the 200-d PCA is used as the feature matrix (no normalisation/HVG).
"""
import peer_common as pc  # sets the 1-thread env vars first

K_GEOM = 18
LAMBDA = 0.2
MAX_M = 1
PCA_DIMS = 20
NUM_NN = 50
N_HVG = 2000


def extra(p):
    p.add_argument("--lambda", dest="lam", type=float, default=LAMBDA)
    p.add_argument("--k-geom", type=int, default=K_GEOM)


def search_resolution(partitioner, target, seed, lo=0.05, hi=3.0, max_iter=40):
    """Leiden resolution giving `target` clusters (bisection, keeps the closest)."""
    import leidenalg
    tried = {}

    def n_at(res):
        lab, _ = partitioner.partition(resolution=res,
                                       partition_metric=leidenalg.RBConfigurationVertexPartition,
                                       n_iterations=-1, seed=seed)
        tried[res] = lab
        return lab.num_labels

    n_lo, n_hi = n_at(lo), n_at(hi)
    while n_hi < target and hi < 20:
        lo, n_lo = hi, n_hi
        hi *= 2
        n_hi = n_at(hi)
    for _ in range(max_iter):
        if n_lo == target or n_hi == target:
            break
        mid = 0.5 * (lo + hi)
        n_mid = n_at(mid)
        if n_mid == target:
            break
        if n_mid < target:
            lo, n_lo = mid, n_mid
        else:
            hi, n_hi = mid, n_mid
    best = min(tried, key=lambda r: (abs(tried[r].num_labels - target), r))
    return best, tried[best], len(tried)


def body(args, rec):
    import contextlib
    import io
    import time
    import numpy as np
    import pandas as pd
    import scanpy as sc

    pc.set_seed(args.seed)
    adata, label_key, k, has_counts = pc.load_section(args.section)
    truth = adata.obs[label_key].astype(object).to_numpy()
    t0 = time.time()
    notes = []

    if has_counts:
        ad2 = adata.copy()
        ad_log = adata.copy()
        sc.pp.normalize_total(ad_log)
        sc.pp.log1p(ad_log)
        n_hvg = min(N_HVG, adata.n_vars)   # an imaging panel (166 genes on STARmap) keeps every gene
        sc.pp.highly_variable_genes(ad_log, flavor="seurat", n_top_genes=n_hvg)
        hvg = ad_log.var_names[ad_log.var["highly_variable"].to_numpy()]
        sc.pp.normalize_total(ad2)  # Banksy tutorial: filter_utils.normalize_total (no log)
        ad2 = ad2[:, hvg].copy()
        notes.append(f"counts: normalize_total (no log), {N_HVG} HVGs via scanpy flavor='seurat' "
                     "on a log1p copy (tutorial's R-derived HVG list unavailable)")
    else:
        import anndata as ad
        key = "X_pca_ccst" if "X_pca_ccst" in adata.obsm else "X_pca"   # the breast-cancer section / the PCA-only DLPFC ones
        X = np.asarray(adata.obsm[key], dtype=np.float64)
        ad2 = ad.AnnData(X=X, obs=adata.obs.copy())
        ad2.var_names = [f"PC{i+1}" for i in range(X.shape[1])]
        ad2.obsm["spatial"] = adata.obsm["spatial"]
        notes.append(f"no counts: the 200-d PCA obsm[{key!r}] used as the expression matrix (no normalisation / HVG selection)")

    from banksy.initialize_banksy import initialize_banksy
    from banksy.embed_banksy import generate_banksy_matrix
    from banksy_utils.umap_pca import pca_umap
    from banksy.main import LeidenPartition
    from banksy_utils.refine_clusters import refine_once

    coord_keys = ("x_pixel", "y_pixel", "coord_xy")
    xy = np.asarray(adata.obsm["spatial"], dtype=np.float64)
    ad2.obs["x_pixel"], ad2.obs["y_pixel"] = xy[:, 0], xy[:, 1]
    ad2.obsm["coord_xy"] = xy

    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):
        bd = initialize_banksy(ad2, coord_keys, args.k_geom, nbr_weight_decay="scaled_gaussian",
                               max_m=MAX_M, plt_edge_hist=False, plt_nbr_weights=False,
                               plt_agf_angles=False, plt_theta=False)
        bd, _ = generate_banksy_matrix(ad2, bd, [args.lam], max_m=MAX_M, verbose=False)
        pca_umap(bd, pca_dims=[PCA_DIMS], plt_remaining_var=False, add_umap=False)
        emb = bd["scaled_gaussian"][args.lam]["adata"].obsm[f"reduced_pc_{PCA_DIMS}"]
        part = LeidenPartition(np.asarray(emb), num_nn=NUM_NN, nns_have_weights=True,
                               compute_shared_nn=True, filter_shared_nn=True,
                               shared_nn_max_rank=3, shared_nn_min_shared_nbrs=5, verbose=False)
        res, lab, n_tried = search_resolution(part, k, args.seed)
    labels = np.asarray(lab.dense)
    rec["fit_s"] = round(time.time() - t0, 3)
    if lab.num_labels != k:
        notes.append(f"resolution search did not hit {k} clusters exactly; got {lab.num_labels}")

    # Optional Banksy refinement, scored as an extra.
    with contextlib.redirect_stdout(quiet):
        refined, _, _ = refine_once(ad2, raw_labels=list(labels), truth_labels=None,
                                    coord_keys=coord_keys, num_neigh=args.k_geom)
    ari_r, nmi_r, _ = pc.score(truth, np.asarray(refined))
    rec["ari_refined"], rec["nmi_refined"] = ari_r, nmi_r

    rec["refinement"] = False
    rec["params"] = {"k_geom": args.k_geom, "lambda": args.lam, "max_m": MAX_M, "pca_dims": PCA_DIMS,
                     "leiden_num_nn": NUM_NN, "resolution": res, "n_resolutions_tried": n_tried,
                     "nbr_weight_decay": "scaled_gaussian",
                     "features": "counts" if has_counts else "X_pca_ccst(200)"}
    notes.append("main labels = raw Leiden (no refinement); ari_refined/nmi_refined = "
                 "Banksy refine_once (num_neigh=k_geom)")
    rec["notes"] = "; ".join(notes)
    rec["_truth"] = truth
    return pd.Series(labels.astype(int), index=adata.obs_names)


if __name__ == "__main__":
    raise SystemExit(pc.run_main("banksy", body,
                                 ["pybanksy", "scanpy", "anndata", "numpy", "scikit-learn",
                                  "leidenalg", "igraph"], extra))
