"""Visium HD-like sections built from real Visium counts: real labels, HD sparsity.

A Visium spot reads the molecules under a 55 µm disc; its spots sit 100 µm apart. Visium HD reads every square of the
slide. To make an HD section whose labels mean something, each spot's 100 µm neighbourhood (its hexagonal cell of the
spot lattice) is tiled with square bins of `--bin-um` µm, and each bin's counts are drawn from its spot's counts by
binomial thinning at rate  bin area / spot area  (64 / 2,376 µm² = 0.027 for 8 µm bins): a bin captures molecules at
the density the spot captured them over its disc. Every bin takes its spot's layer label.

Depth: DLPFC 151673's spots hold a median of 1,193 UMIs of the 5,000 genes kept (4,120 over the whole transcriptome),
so its 8 µm bins hold a median of about 32 UMIs of those genes (about 110 whole-transcriptome equivalents), 16 µm bins
about 130 and 2 µm bins about 2: the tens to low hundreds that real 8 µm bins hold, with the sparsity growing as the
bins shrink. The bins of one spot share their spot's expression profile; a real HD section varies within 100 µm too,
so these sections are easier than real ones in that respect and harder nowhere.

    uv run python bench/hd_sections.py --sections DLPFC_151673 --bin-um 8 16        # .h5ad files in --out
    uv run python bench/hd_sections.py --sections DLPFC_151673 --bin-um 8 --spaceranger   # + a Space Ranger HD folder

The files go to bench/results/hd_data/ (not in git) and are rebuilt only when missing. Seeded: the same command gives
the same counts.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.spatial import cKDTree

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "hd_data"
SPOT_PITCH_UM = 100.0                         # Visium: centre-to-centre distance of neighbouring spots
SPOT_AREA_UM2 = np.pi * (55.0 / 2) ** 2       # Visium: the 55 µm capture disc
LABEL_KEY = "layer_guess_reordered"


def tile_spots(spots: ad.AnnData,          # a Visium section: raw counts in .X, full-resolution pixels in .obsm['spatial']
               bin_um: float = 8.0,        # bin side in µm
               label_key: str = LABEL_KEY, # .obs column copied to every bin of a spot
               seed: int = 0,
               library_id: str = "hd") -> ad.AnnData:
    "Square bins over each spot's cell of the Visium lattice, counts thinned from the spot's at bin area / spot area."
    rng = np.random.default_rng(seed)
    xy = np.asarray(spots.obsm["spatial"], dtype=float)
    pitch_px = np.median(cKDTree(xy).query(xy, k=2)[0][:, 1])          # neighbouring spots: 100 µm apart
    um_per_px = SPOT_PITCH_UM / pitch_px
    bin_px = bin_um / um_per_px
    lo, hi = xy.min(0) - SPOT_PITCH_UM / um_per_px, xy.max(0) + SPOT_PITCH_UM / um_per_px
    cols, rows = np.arange(lo[0], hi[0], bin_px), np.arange(lo[1], hi[1], bin_px)
    cx, cy = np.meshgrid(cols, rows)
    centres = np.column_stack([cx.ravel(), cy.ravel()])
    grid_col, grid_row = np.meshgrid(np.arange(len(cols)), np.arange(len(rows)))
    dist, spot = cKDTree(xy).query(centres)
    keep = dist <= SPOT_PITCH_UM / np.sqrt(3) / um_per_px               # the hexagonal cell's circumradius: no gaps, no far bins
    centres, spot = centres[keep], spot[keep]
    grid_row, grid_col = grid_row.ravel()[keep], grid_col.ravel()[keep]
    rate = bin_um ** 2 / SPOT_AREA_UM2
    X = sp.csr_matrix(spots.X).astype(np.int64)
    order = np.argsort(spot, kind="stable")                              # bins grouped by spot, to thin one spot at a time
    starts = np.searchsorted(spot[order], np.arange(spots.n_obs + 1))
    indptr, indices, data = [0], [], []
    for s in range(spots.n_obs):
        n_bins = starts[s + 1] - starts[s]
        if n_bins == 0: continue
        genes, counts = X.indices[X.indptr[s]:X.indptr[s + 1]], X.data[X.indptr[s]:X.indptr[s + 1]]
        draws = rng.binomial(np.broadcast_to(counts, (n_bins, len(counts))), rate)
        r, c = np.nonzero(draws)
        indices.append(genes[c]); data.append(draws[r, c])
        indptr.extend(indptr[-1] + np.cumsum(np.bincount(r, minlength=n_bins)))
    counts = sp.csr_matrix((np.concatenate(data).astype(np.float32), np.concatenate(indices), np.asarray(indptr)),
                           shape=(len(spot), spots.n_vars))
    inverse = np.empty_like(order); inverse[order] = np.arange(len(order))
    raster = np.lexsort((grid_col, grid_row))                            # Space Ranger's order: row by row
    counts = counts[inverse[raster]]                                     # from spot order straight to raster order
    centres, spot, grid_row, grid_col = centres[raster], spot[raster], grid_row[raster], grid_col[raster]
    names = [f"s_{bin_um:03.0f}um_{r:05d}_{c:05d}-1" for r, c in zip(grid_row, grid_col)]
    obs = pd.DataFrame({"in_tissue": 1, "array_row": grid_row, "array_col": grid_col,
                        "spot": spots.obs_names[spot].to_numpy(), label_key: spots.obs[label_key].to_numpy()[spot]}, index=names)
    if isinstance(spots.obs[label_key].dtype, pd.CategoricalDtype):
        obs[label_key] = pd.Categorical(obs[label_key], categories=spots.obs[label_key].cat.categories)
    bins = ad.AnnData(counts, obs=obs, var=spots.var.copy())
    bins.obsm["spatial"] = centres
    bins.uns["ground_truth_key"] = label_key
    bins.uns["spatial"] = {library_id: {"images": {}, "scalefactors": {
        "bin_size_um": float(bin_um), "microns_per_pixel": float(um_per_px), "spot_diameter_fullres": float(bin_px)},
        "metadata": {"source": "bench/hd_sections.py", "thinning_rate": rate, "seed": seed}}}
    return bins


def build(section: str, bin_um: float, seed: int = 0, spaceranger: bool = False, out: Path = OUT) -> Path:
    "The .h5ad of one section at one bin size (built once), and optionally its Space Ranger HD folder beside it."
    from spatial_vae.data import shared_data_dir, write_spaceranger_hd
    out.mkdir(parents=True, exist_ok=True)
    name = f"{section}_hd{bin_um:03.0f}um"
    path = out / f"{name}.h5ad"
    if not path.exists():
        spots = ad.read_h5ad(shared_data_dir() / section / f"{section}.h5ad")
        bins = tile_spots(spots, bin_um, seed=seed, library_id=name)
        tmp = path.with_name(f".{path.name}.partial")
        bins.write_h5ad(tmp); tmp.rename(path)
        depth = np.asarray(bins.X.sum(1)).ravel()
        print(f"{name}: {bins.n_obs:,} bins from {spots.n_obs:,} spots ({bins.n_obs / spots.n_obs:.0f} per spot), "
              f"median {np.median(depth):.0f} UMIs and {np.median(np.diff(bins.X.indptr)):.0f} genes per bin -> {path}")
    if spaceranger and not (out / name / "outs").exists():
        write_spaceranger_hd(ad.read_h5ad(path), out / name)
        print(f"{name}: Space Ranger HD layout in {out / name}")
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sections", nargs="+", default=["DLPFC_151673"], help="folders of ../shared/data with counts and labels")
    p.add_argument("--bin-um", type=float, nargs="+", default=[8.0], help="bin sizes in µm (8: Visium HD's analysis size)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--spaceranger", action="store_true", help="also write each as a Space Ranger HD output folder")
    p.add_argument("--out", type=Path, default=OUT)
    a = p.parse_args(argv)
    for section in a.sections:
        for bin_um in a.bin_um: build(section, bin_um, a.seed, a.spaceranger, a.out)


if __name__ == "__main__":
    sys.exit(main())
