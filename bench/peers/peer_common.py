"""Shared helpers for the peer-method benchmark scripts in bench/peers/.

Every ``run_<method>.py`` script imports this module. It must work with the
stdlib plus numpy / pandas / anndata / scikit-learn, which every peer venv has.

Conventions
-----------
* Data root: ``$SPATIAL_VAE_SHARED_DATA`` (default ``<repo>/../shared/data``).
* One invocation of a ``run_<method>.py`` script = one (method, section, seed)
  run in its own process; the script appends exactly one JSON line to ``--out``
  (default ``bench/results/peers.jsonl``) and writes the predicted labels of
  every spot to ``bench/results/labels/<method>_<section>_seed<k>.csv``
  (columns ``barcode,domain``).
* ``wall_s`` is the wall time of the whole process (imports, loading,
  preprocessing, fitting, clustering, scoring); ``fit_s`` covers the method
  only (after the data are loaded).  ``peak_mem_mb`` is the max RSS of the
  process and of any children it waited for (``resource.getrusage``).
* ARI / NMI (scikit-learn) are computed on annotated spots only (NaN labels
  dropped from scoring, but those spots are still clustered and written out).
"""
from __future__ import annotations

import os

# One core only: set before numpy / torch / numba are imported by the caller.
for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
           "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import json
import platform
import random
import resource
import socket
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

T_START = time.time()

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RESULTS_DIR = REPO / "bench" / "results"
DEFAULT_OUT = RESULTS_DIR / "peers.jsonl"
LABELS_DIR = RESULTS_DIR / "labels"

# section id -> (relative h5ad path, label column, number of domains, has counts)
SECTIONS = {
    "DLPFC_151673": ("DLPFC_151673/DLPFC_151673.h5ad", "layer_guess_reordered", 7, True),
    "DLPFC_151674": ("DLPFC_151674/DLPFC_151674.h5ad", "layer_guess_reordered", 7, True),
    "BRCA_V1_Block_A_Section_1": (
        "BRCA_V1_Block_A_Section_1_annot/BRCA_V1_Block_A_Section_1_annot.h5ad",
        "fine_annot_type", 20, False),
    # development data added 2026-11-30: an imaging section (single cells, 166 genes) and four PCA-only DLPFC sections
    "STARmap_mPFC_BZ5": ("STARmap_mPFC_BZ5/starmap_mpfc_20180417_BZ5_control.h5ad", "layer", 4, True),
    **{f"DLPFC_{s}_pca": (f"DLPFC_pca200/DLPFC_{s}_pca200.h5ad", "layer_guess_reordered", 7, False)
       for s in (151507, 151508, 151509, 151510)},
}

# synthetic Visium HD-like sections written by bench/scaling.py (labels in .obs['domain'], 7 domains), realistic ones
# built from DLPFC counts by bench/hd_sections.py (8 µm bins) and their 48 µm squares written by bench/scaling.py
SCALING_DATA, HD_DATA = RESULTS_DIR / "scaling_data", RESULTS_DIR / "hd_data"
for _p in sorted(SCALING_DATA.glob("synthetic_hd_*.h5ad")):
    SECTIONS[_p.stem] = (str(_p), "domain", 7, True)
for _p in sorted(HD_DATA.glob("DLPFC_*_hd*.h5ad")) + sorted(SCALING_DATA.glob("DLPFC_*_hd*.h5ad")):
    SECTIONS[_p.stem] = (str(_p), "layer_guess_reordered", 7, True)

BRCA_NOTE = ("BRCA section has no counts (3798 spots x 0 genes): the 200-d CCST PCA "
             "obsm['X_pca_ccst'] was fed to the method as if it were the expression matrix")


def data_root() -> Path:
    return Path(os.environ.get("SPATIAL_VAE_SHARED_DATA", str(REPO.parent / "shared" / "data")))


def parse_args(method: str, extra=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=f"One {method} run on one section with one seed.")
    p.add_argument("--section", required=True, choices=sorted(SECTIONS))
    p.add_argument("--seed", required=True, type=int)
    p.add_argument("--out", default=str(DEFAULT_OUT), help="JSONL file to append the result line to")
    p.add_argument("--labels-dir", default=str(LABELS_DIR))
    p.add_argument("--method-name", default=method,
                   help="name written in the 'method' field (for variants)")
    if extra is not None:
        extra(p)
    return p.parse_args()


def set_seed(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np
        np.random.seed(seed)
    except ImportError:
        pass
    if "torch" in sys.modules:  # only if the method already imported torch
        import torch
        torch.manual_seed(seed)
        torch.set_num_threads(1)


def load_section(section: str):
    """Return (adata, label column, n_domains, has_counts). Labels: pandas Series (NaN = unannotated)."""
    import anndata as ad
    rel, label_key, k, has_counts = SECTIONS[section]
    path = data_root() / rel
    adata = ad.read_h5ad(path)
    adata.var_names_make_unique()
    return adata, label_key, k, has_counts


def score(labels_true, labels_pred):
    """ARI and NMI on annotated spots only. labels_true: array-like with NaN for unannotated."""
    import numpy as np
    import pandas as pd
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
    t = pd.Series(np.asarray(labels_true, dtype=object))
    mask = t.notna().to_numpy() & (t.astype(str) != "nan").to_numpy()
    yt = t[mask].astype(str).to_numpy()
    yp = np.asarray(labels_pred).astype(str)[mask]
    return (float(adjusted_rand_score(yt, yp)), float(normalized_mutual_info_score(yt, yp)),
            int(mask.sum()))


def peak_mem_mb() -> float:
    s = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    c = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(s, c) / 1024.0  # Linux: KiB


def versions(*pkgs: str) -> dict:
    from importlib import metadata
    out = {"python": platform.python_version()}
    for p in pkgs:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    return out


def write_labels(labels_dir: str, method: str, section: str, seed: int, barcodes, domains) -> str:
    import pandas as pd
    d = Path(labels_dir)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{method}_{section}_seed{seed}.csv"
    pd.DataFrame({"barcode": list(barcodes), "domain": list(domains)}).to_csv(path, index=False)
    return str(path)


def append_line(out: str, rec: dict) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(rec, default=_json_default)
    with open(out, "a") as f:  # one short write of one line: safe for sequential runners
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def _json_default(o):
    try:
        import numpy as np
        if isinstance(o, np.integer):
            return int(o)
        if isinstance(o, np.floating):
            return float(o)
        if isinstance(o, np.bool_):
            return bool(o)
    except ImportError:
        pass
    return str(o)


def base_record(method: str, section: str, seed: int) -> dict:
    return {
        "method": method, "section": section, "seed": seed,
        "ari": None, "nmi": None, "n_domains": SECTIONS[section][2],
        "n_domains_found": None, "n_scored": None,
        "wall_s": None, "fit_s": None, "peak_mem_mb": None,
        "refinement": False, "status": "failed", "notes": "", "versions": {},
        "params": {}, "host": socket.gethostname(),
        "started_utc": datetime.fromtimestamp(T_START, timezone.utc).isoformat(timespec="seconds"),
    }


def run_main(method: str, body, pkgs, extra_args=None) -> int:
    """Common driver. ``body(args, rec)`` fills rec (must set 'labels' (pd.Series indexed by
    barcode) or set rec['status'] = 'not_applicable'). Appends exactly one line to args.out."""
    args = parse_args(method, extra_args)
    name = args.method_name
    rec = base_record(name, args.section, args.seed)
    rc = 0
    try:
        rec["versions"] = versions(*pkgs)
        out = body(args, rec)
        if rec.get("status") == "not_applicable":
            pass
        else:
            labels = out  # pd.Series: index barcode, values domain, plus rec['_truth']
            truth = rec.pop("_truth")
            ari, nmi, n = score(truth, labels.to_numpy())
            rec.update(ari=ari, nmi=nmi, n_scored=n,
                       n_domains_found=int(labels.nunique()), status="ok")
            rec["labels_csv"] = os.path.relpath(
                write_labels(args.labels_dir, name, args.section, args.seed,
                             labels.index, labels.to_numpy()), REPO)
    except Exception as e:  # record the failure, do not lose the line
        rc = 1
        rec["status"] = "failed"
        tb = traceback.format_exc()
        rec["notes"] = (rec.get("notes") or "") + f" | ERROR {type(e).__name__}: {e} | " + tb[-1500:]
        print(tb, file=sys.stderr)
    rec.pop("_truth", None)
    rec["wall_s"] = round(time.time() - T_START, 3)
    rec["peak_mem_mb"] = round(peak_mem_mb(), 1)
    append_line(args.out, rec)
    print(json.dumps({k: rec[k] for k in ("method", "section", "seed", "status", "ari", "nmi",
                                          "wall_s", "peak_mem_mb")}, default=_json_default))
    return rc
