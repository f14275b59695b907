#!/usr/bin/env python
"""One SpaGCN run: python run_spagcn.py --section S --seed K [--out peers.jsonl] [--histology off|auto]

Run with /work/peer_venvs/spagcn/bin/python (SpaGCN 1.2.7, see setup_envs.sh).

Follows the SpaGCN tutorial (DLPFC 151673) / its ez_mode:
  prefilter_genes(min_cells=3), prefilter_specialgenes, normalize_per_cell, log1p;
  adjacency from pixel coordinates (histology off by default, see below), p = 0.5,
  l = search_l(p, adj, start=0.01, end=1000, tol=0.01, max_run=100);
  res = search_res(..., target = n annotated domains, start=0.7, step=0.1, tol=5e-3,
  lr=0.05, max_epochs=20); final train init='louvain', tol=5e-3, lr=0.05, max_epochs=200;
  refinement as in the tutorial: refine(..., dis = adjacency of array coordinates,
  shape='hexagon').  Main labels/scores = refined labels (refinement=True); the
  unrefined scores are kept in 'ari_unrefined' / 'nmi_unrefined'.
The tutorial's r_seed = t_seed = n_seed = 100 are all set to --seed.

Histology: off by default for every section (151674 has no image; 151673 and BRCA have only
a 600x600 lowres image, and the benchmark compares expression+space methods), so all
sections are run the same way. --histology auto uses the lowres image where present
(pixel coords and beta scaled by tissue_lowres_scalef); this is recorded in params.

Compatibility shims (no change to the algorithm): SpaGCN 1.2.7 calls `adata.X.A`, which
SciPy >= 1.14 sparse matrices no longer have, so X is made dense before training.

BRCA: no counts; the 200-d CCST PCA is fed as adata.X (no filtering / normalisation / log);
SpaGCN then runs its own PCA(50) on it as usual.
"""
import peer_common as pc  # sets the 1-thread env vars first


def extra(p):
    p.add_argument("--histology", choices=["off", "auto"], default="off")
    p.add_argument("--p", type=float, default=0.5)


def body(args, rec):
    import contextlib
    import io
    import random
    import time
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp
    import torch
    torch.set_num_threads(1)
    import anndata as ad
    import scanpy as sc
    import SpaGCN as spg

    seed = args.seed
    pc.set_seed(seed)
    adata, label_key, k, has_counts = pc.load_section(args.section)
    truth = adata.obs[label_key].astype(object).to_numpy()
    t0 = time.time()
    notes = []

    x_pixel = adata.obsm["spatial"][:, 1].astype(float)  # row (tutorial: x_pixel = pxl_row)
    y_pixel = adata.obsm["spatial"][:, 0].astype(float)  # col
    visium = {"array_row", "array_col"} <= set(adata.obs)   # an imaging section (STARmap) has cells, no spot array
    x_array = adata.obs["array_row"].to_numpy().astype(float) if visium else x_pixel
    y_array = adata.obs["array_col"].to_numpy().astype(float) if visium else y_pixel

    if has_counts:
        a = ad.AnnData(X=adata.X.copy(), obs=adata.obs[[]].copy(), var=adata.var[[]].copy())
        a.var_names_make_unique()
        quiet = io.StringIO()
        with contextlib.redirect_stdout(quiet):
            spg.prefilter_genes(a, min_cells=3)
            spg.prefilter_specialgenes(a)
            sc.pp.normalize_per_cell(a)
            sc.pp.log1p(a)
        notes.append(f"counts: prefilter_genes(min_cells=3)+prefilter_specialgenes -> {a.n_vars} genes, "
                     "normalize_per_cell, log1p (tutorial)")
    else:
        key = "X_pca_ccst" if "X_pca_ccst" in adata.obsm else "X_pca"   # the breast-cancer section / the PCA-only DLPFC ones
        X = np.asarray(adata.obsm[key], dtype=np.float32)
        a = ad.AnnData(X=X, obs=adata.obs[[]].copy())
        notes.append(pc.BRCA_NOTE + "; no filtering/normalisation/log; SpaGCN's own PCA(50) on it")
    if sp.issparse(a.X):
        a.X = np.asarray(a.X.toarray(), dtype=np.float32)  # SciPy>=1.14: no .A on sparse matrices

    histology = False
    img = None
    if args.histology == "auto":
        sid = list(adata.uns.get("spatial", {}).keys())
        if sid and "images" in adata.uns["spatial"][sid[0]] and "lowres" in adata.uns["spatial"][sid[0]]["images"]:
            sf = adata.uns["spatial"][sid[0]]["scalefactors"]["tissue_lowres_scalef"]
            img = np.asarray(adata.uns["spatial"][sid[0]]["images"]["lowres"])
            if img.dtype != np.uint8 and img.max() <= 1.0:
                img = (img * 255).astype(np.uint8)
            img = img[..., :3]
            histology = True
    if histology:
        xp = np.round(x_pixel * sf).astype(int)
        yp = np.round(y_pixel * sf).astype(int)
        beta = max(1, int(round(49 * sf)))
        with contextlib.redirect_stdout(io.StringIO()):
            adj = spg.calculate_adj_matrix(x=x_pixel * sf, y=y_pixel * sf, x_pixel=xp.tolist(),
                                           y_pixel=yp.tolist(), image=img, beta=beta, alpha=1,
                                           histology=True)
        notes.append(f"histology ON with the lowres image (scalef={sf:.4f}, beta={beta} lowres px)")
    else:
        beta = None
        with contextlib.redirect_stdout(io.StringIO()):
            adj = spg.calculate_adj_matrix(x=x_pixel, y=y_pixel, histology=False)
        notes.append("histology OFF (adjacency from full-res pixel coordinates only)")

    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):
        l = spg.search_l(args.p, adj, start=0.01, end=1000, tol=0.01, max_run=100)
        res = spg.search_res(a, adj, l, k, start=0.7, step=0.1, tol=5e-3, lr=0.05, max_epochs=20,
                             r_seed=seed, t_seed=seed, n_seed=seed)
        clf = spg.SpaGCN()
        clf.set_l(l)
        random.seed(seed)
        torch.manual_seed(seed)
        np.random.seed(seed)
        clf.train(a, adj, init_spa=True, init="louvain", res=res, tol=5e-3, lr=0.05, max_epochs=200)
        y_pred, prob = clf.predict()
        adj_2d = spg.calculate_adj_matrix(x=x_array, y=y_array, histology=False)
        refined = spg.refine(sample_id=a.obs.index.tolist(), pred=list(y_pred), dis=adj_2d,
                             shape="hexagon")
    rec["fit_s"] = round(time.time() - t0, 3)
    n_raw = len(set(y_pred.tolist()))
    if n_raw != k:
        notes.append(f"search_res did not reach {k} clusters exactly (got {n_raw} before refinement)")
    ari_u, nmi_u, _ = pc.score(truth, y_pred)
    rec["ari_unrefined"], rec["nmi_unrefined"] = ari_u, nmi_u
    rec["refinement"] = True
    rec["params"] = {"p": args.p, "l": float(l), "res": float(res), "histology": histology,
                     "beta": beta, "lr": 0.05, "max_epochs": 200, "tol": 5e-3, "init": "louvain",
                     "num_pcs": 50, "refine_shape": "hexagon",
                     "features": "counts" if has_counts else "X_pca_ccst(200)"}
    notes.append("main labels = refined (tutorial's refine, hexagon); unrefined in ari_unrefined/nmi_unrefined")
    rec["notes"] = "; ".join(notes)
    rec["_truth"] = truth
    return pd.Series(np.asarray(refined).astype(int), index=adata.obs_names)


if __name__ == "__main__":
    raise SystemExit(pc.run_main("spagcn", body,
                                 ["SpaGCN", "torch", "scanpy", "anndata", "numpy", "scikit-learn",
                                  "louvain", "scipy", "pandas"], extra))
