"""Benchmark spatial_vae against the non-spatial floor and its seed configuration on the annotated real sections.

Resumable: every (method, section, seed) run appends one JSON line to bench/results/spatial_vae.jsonl and is skipped
when already there. Peers run from bench/peers/ (own venvs) into bench/results/peers.jsonl. `--table` prints and
writes the markdown table and JSON summary of both files; `--figure` draws the domain maps side by side.

    uv run python bench/run.py              # run what is missing (10 seeds per method and section)
    uv run python bench/run.py --methods spatial_vae --sections DLPFC_151673 --seeds 5-9
    uv run python bench/run.py --table --figure
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
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
    # added 2026-11-30 (issue 22): an imaging section (single cells, 166 genes, kNN graph) and four DLPFC sections of
    # another donor given only as a 200-d PCA; no default before that date was chosen on them
    "STARmap_mPFC_BZ5": ("STARmap_mPFC_BZ5/starmap_mpfc_20180417_BZ5_control.h5ad", "layer", None),
    **{f"DLPFC_{s}_pca": (f"DLPFC_pca200/DLPFC_{s}_pca200.h5ad", "layer_guess_reordered", "X_pca") for s in (151507, 151508, 151509, 151510)},
}
# the presets whose recorded runs are today's default (settings.ini's values, pinned): the home page's table quotes them.
# Sections of up to 2,048 spots train in full batches (spatial_vae.training.AUTO_FULL_BATCH_SPOTS), exactly as torch_gmm
# trains them (checked: STARmap seed 2 scores 0.631 both ways) with 5 models; the rest in ~512-spot batches with a vote
# over 3 models, as lean_mb512_e3 does (the default since 2026-12-01, evening; lean_mb512, 5 models, before it)
# The sections whose PCA the package computes from counts were rerun after the float32 PCA (2026-12-01 night): their
# runs since are the *_pca32 presets; the others bring their features, so the PCA change does not touch them
DEFAULT_PRESET = "lean_mb512_e3"
# Since 2026-12-02 the model sees at most n_pcs (50) leading principal components of features a section brings
# (spatial_vae.data.given_features): the sections that bring a 200-d PCA were rerun as lean_e3_given
# and sections without an array grid smooth over smoothing_hops_cells (4) hops: STARmap's default runs are star_hops4 (a rerun
# of an earlier preset there now smooths 4 hops too; add "smoothing_hops_cells": 2 to repeat its recorded runs)
DEFAULT_PRESETS = {"STARmap_mPFC_BZ5": "star_hops4", "DLPFC_151673": "lean_e3_pca32", "DLPFC_151674": "lean_e3_pca32",
                   **{s: "lean_e3_given" for s in ("BRCA_V1_Block_A_Section_1", "DLPFC_151507_pca", "DLPFC_151508_pca",
                                                   "DLPFC_151509_pca", "DLPFC_151510_pca")}}


def default_preset(section: str) -> str:
    "The preset whose runs on `section` are today's default."
    return DEFAULT_PRESETS.get(section, DEFAULT_PRESET)
TUNED_ON = ("DLPFC_151673", "DLPFC_151674", "BRCA_V1_Block_A_Section_1")   # the sections every choice before 2026-11-30 was made on
LR1E3 = {"learning_rate": 0.001}   # the default before Adam at 0.002: presets measured at it pin it, so a rerun reproduces them
EXTRA2 = {"extra_components": 2}    # the default before the vote over spare-component counts: presets measured with it pin it
# named presets: keyword overrides of settings.ini for the pipeline's preprocessing, training and clustering
METHODS = {
    "spatial_vae": {},                         # the defaults; also scored before their label refinement (see run_one)
    # the seed's configuration: log1p PCA, own-features encoder, lambda_spatial 1, Leiden on mu, no smoothing or refinement
    "seed_vae": {"normalization": "log1p", "neighbour_context": False, "lambda_spatial": 1.0, "cluster_method": "leiden",
                 "smoothing_hops": 0, "latent_dim": 16, "ensemble": 1, "refine_hops": 0, "extra_components": 0} | LR1E3,
    # the non-spatial floor: scanpy's standard log1p PCA, then Leiden / k-means / tied GMM with the true domain count
    "pca_leiden": {"normalization": "log1p"}, "pca_kmeans": {"normalization": "log1p"}, "pca_gmm": {"normalization": "log1p"},
    # the previous default, 0-3 spare components whatever the number of domains: on DLPFC (7 layers) `auto` gives the same
    # counts, so there spatial_vae's runs are this preset's; its breast-cancer runs were recorded as spatial_vae and renamed
    "spatial_vae_x0123": {"extra_components": (0, 1, 2, 3)},
    # the default before that, two spare components only (the same model seeds as spatial_vae), also with a vote over 10 models
    "spatial_vae_extra2": EXTRA2,
    "spatial_vae_extra2_ensemble10": {"ensemble": 10} | EXTRA2,
    # the default before that (Adam at 0.001): the same runs as spatial_vae otherwise
    "spatial_vae_lr1e3": LR1E3 | EXTRA2,
    # ablations measured with the previous learning rate (pinned, so a rerun reproduces them): compare with spatial_vae_lr1e3
    "spatial_vae_no_smoothing": {"smoothing_hops": 0, "refine_hops": 0} | LR1E3,
    "spatial_vae_log1p": {"normalization": "log1p", "refine_hops": 0} | LR1E3,
    "spatial_vae_no_context": {"neighbour_context": False, "refine_hops": 0} | LR1E3,
    # without the merge of a spare mixture component (also scored before and after its refinement)
    "spatial_vae_no_merge": {"extra_components": 0} | LR1E3,
    # measured before the merge became a default: compare with spatial_vae_no_merge_no_refinement
    "spatial_vae_single_model": {"ensemble": 1, "refine_hops": 0, "extra_components": 0} | LR1E3,
    "spatial_vae_latent16": {"latent_dim": 16, "refine_hops": 0, "extra_components": 0} | LR1E3,
    # the default before two spare components, one spare, alone and with a vote over 10 models
    "spatial_vae_extra1": {"extra_components": 1} | LR1E3,
    "spatial_vae_extra1_ensemble10": {"ensemble": 10, "extra_components": 1} | LR1E3,
}


# lean candidates (issue 22): fewer models and optimiser steps; the clustering is the default's
LEAN = {
    "lean_1x300": {"ensemble": 1},
    "lean_1x150_lr4e3": {"ensemble": 1, "epochs": 150, "learning_rate": 0.004},
    "lean_2x150_lr4e3": {"ensemble": 2, "epochs": 150, "learning_rate": 0.004},
    # half the width: a full-batch step costs about half (bench/step_time.py: 7.1 against 15.3 ms on 3,600 spots)
    "narrow_64x32_l16": {"hidden_dims": (64, 32), "latent_dim": 16},
    # the narrow net with 3 mixture restarts instead of 10 (spatial_vae.domains.CLUSTER_STARTS): the same seed trains the
    # same models as narrow_64x32_l16, so the two are a paired comparison of the restarts alone
    "narrow_starts3": {"hidden_dims": (64, 32), "latent_dim": 16, "cluster_starts": 3},
    # the narrow hidden layers with the default's 32 latent dimensions (CHANGELOG.md: 32 instead of 16 helped 151674 most)
    "narrow_64x32_l32": {"hidden_dims": (64, 32)},
    # the narrow net with two thirds of the optimiser steps at a higher learning rate
    "narrow_e200_lr3e3": {"hidden_dims": (64, 32), "latent_dim": 16, "epochs": 200, "learning_rate": 0.003},
    # minibatches of ~512 / ~1,024 spots (seed spots plus their neighbours, so every seed keeps its edges) for about 300
    # optimiser steps: each step costs 1/7 / 2/7 of a full-batch step on a Visium section (2026-12-01)
    "mb512_300steps": {"batch_size": 512, "max_steps": 300},
    "mb1024_300steps": {"batch_size": 1024, "max_steps": 300},
    # from 66d8b12+: the mixture is spatial_vae's batched torch EM (fit_tied_mixture), not scikit-learn's
    "torch_gmm": {"batch_size": 1_000_000, "max_steps": 3000},   # the full-batch default of before 35325bd with it
    "lean_mb512": {"batch_size": 512, "max_steps": 300},     # with minibatches of ~512 spots for ~300 steps
    # STARmap splits under lean_mb512 (seeds 2 and 3 merge layers): what in the minibatch training does it
    "lean_mb512_600steps": {"batch_size": 512, "max_steps": 600},
    "lean_mb256": {"batch_size": 256, "max_steps": 300},
    "lean_mb512_lr1e3": {"batch_size": 512, "max_steps": 300, "learning_rate": 0.001},
    # the lean default with a vote over 3 models instead of 5 (40% less training and clustering)
    "lean_mb512_e3": {"batch_size": 512, "max_steps": 300, "ensemble": 3},
    # the same vote over 3 models for the sections trained in full batches (STARmap: torch_gmm is its default's preset)
    "torch_gmm_e3": {"batch_size": 1_000_000, "max_steps": 3000, "ensemble": 3},
    # the code since 2026-12-01 night (float32 Pearson-residual PCA): the same settings as the default's presets, rerun on the
    # sections whose features the package computes from counts (DLPFC 151673/151674, STARmap); the others give features
    "lean_e3_pca32": {"batch_size": 512, "max_steps": 300, "ensemble": 3},
    "torch_gmm_pca32": {"batch_size": 1_000_000, "max_steps": 3000},
    # issue 22, 2026-12-02: cheaper variants of lean_e3_pca32 (the same model seeds), to close the gap to BANKSY's wall time
    "lean_e3_s200": {"batch_size": 512, "max_steps": 200, "ensemble": 3},        # two thirds of the optimiser steps
    "lean_e3_starts4": {"batch_size": 512, "max_steps": 300, "ensemble": 3, "cluster_starts": 4},   # 4 mixture starts, not 10
    "lean_e2": {"batch_size": 512, "max_steps": 300, "ensemble": 2},             # a vote over 2 models (8 labellings)
    # a diagnostic, not a candidate: one optimiser step, so the embedding is the untrained encoder's (a random map of the
    # PCA and its neighbourhood mean), then the default's smoothing, mixtures, vote and refinement: what training adds
    "untrained_probe": {"max_steps": 1},
    # sections that bring their features (a 200-d PCA): the model sees only the leading 50 columns, as n_pcs = 50 gives
    # the sections whose PCA the package computes (the untrained probe beat the trained model on all five of them)
    "lean_e3_feat50": {"batch_size": 512, "max_steps": 300, "ensemble": 3, "features_dims": 50},
    # the default since 2026-12-02 on the sections that bring their features: at most n_pcs (50) leading principal
    # components of them (spatial_vae.data.given_features); the same settings as lean_mb512_e3
    "lean_e3_given": {"batch_size": 512, "max_steps": 300, "ensemble": 3},
    # a probe on the imaging section: single cells need a wider neighbourhood than 55 µm spots? twice the smoothing hops
    "star_hops4": {"batch_size": 1_000_000, "max_steps": 3000, "smoothing_hops": 4},
    "lean_e3_hops4": {"batch_size": 512, "max_steps": 300, "ensemble": 3, "smoothing_hops": 4},   # the same on the other sections
}
METHODS.update(LEAN)

VERSION = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE).stdout.strip()

# presets whose runs on sections that bring their features were recorded before 2026-12-02, when the model saw every
# column (200): a rerun of one of them keeps doing so; every later preset sees at most n_pcs principal components
SINCE_GIVEN = ("lean_e3_feat50", "lean_e3_given", "star_hops4", "lean_e3_hops4")   # presets defined since: they see n_pcs columns
GIVEN_ALL_COLUMNS = {name: ("X_pca", "X_pca_ccst") for name in METHODS if name not in SINCE_GIVEN}

ONLY_ON = {  # presets that differ from the default on some sections only: elsewhere their runs are the default's
    "spatial_vae_x0123": ("BRCA_V1_Block_A_Section_1",),   # DLPFC's 7 domains: auto gives the same counts, 0-3
}


def done_runs() -> set:
    if not OURS.exists(): return set()
    return {(r["method"], r["section"], r["seed"]) for r in map(json.loads, OURS.read_text().splitlines())}


PACKAGE_STARTS = {}   # the package's own restart count, kept before any preset changes it


def run_one(method: str, section: str, seed: int) -> list[dict]:
    "One (method, section, seed) run in this process; spatial_vae also yields its scores before refinement as a second record."
    import anndata as ad
    from spatial_vae.data import given_features, preprocess, shared_data_dir
    from spatial_vae.domains import find_domains, refine_domains
    from spatial_vae.evaluation import score_domains, spatial_coherence
    from spatial_vae.graph import spatial_edges
    from spatial_vae.pipeline import (domains_from_settings, ensemble_size, merged_settings, peak_memory_mb, preprocessing_arguments,
                                      train_from_settings)
    file, label_key, features_key = SECTIONS[section]
    t0 = time.perf_counter()
    adata = ad.read_h5ad(shared_data_dir() / file)
    labels = adata.obs[label_key].astype("category").cat.remove_unused_categories()
    n_domains = labels.nunique()
    preset = dict(METHODS[method])
    features_dims = preset.pop("features_dims", None)   # given features cut to their leading columns (a bench option only)
    import spatial_vae.domains as domains         # a module constant, not a setting: a preset may change it for its run
    PACKAGE_STARTS.setdefault("starts", domains.CLUSTER_STARTS)
    domains.CLUSTER_STARTS = preset.pop("cluster_starts", PACKAGE_STARTS["starts"])
    s = merged_settings({**preset, "n_domains": n_domains})
    refine_hops = 0 if method.startswith("pca_") else s["evaluation"]["refine_hops"]
    s["evaluation"]["refine_hops"] = 0   # refined below, after the unrefined domains are scored
    # run k of an n-model ensemble trains seeds n*k .. n*k+n-1: no model is shared between runs, so runs stay independent
    n_models = 1 if method.startswith("pca_") else ensemble_size(s, adata.n_obs)
    s["training"]["seed"] = seed * n_models
    if features_key is None:
        from threadpoolctl import threadpool_limits   # pinned as run_pipeline pins it: the PCA's sums depend on BLAS threads
        with threadpool_limits(s["training"]["num_threads"] or None): preprocess(adata, **preprocessing_arguments(s))
        features_key = "X_pca"
    elif features_dims: adata.obsm[features_key] = np.ascontiguousarray(adata.obsm[features_key][:, :features_dims])
    elif features_key in GIVEN_ALL_COLUMNS.get(method, ()): pass   # recorded before the reduction: the model saw every column
    else: features_key = given_features(adata, features_key, n_pcs=s["data"]["n_pcs"], seed=s["training"]["seed"])
    edges = spatial_edges(adata)
    if method.startswith("pca_"):
        find_domains(adata, use_rep=features_key, method=method.split("_")[1], n_domains=n_domains, seed=seed)
    else:
        trained = train_from_settings(adata, edges, s, features_key, progress=False)
        domains_from_settings(adata, edges, s, trained.member_keys)
    wall = time.perf_counter() - t0
    base = {"section": section, "seed": seed, "n_domains": int(n_domains), "wall_s": round(wall, 2),
            "peak_mem_mb": peak_memory_mb(), "status": "ok", "model_seeds": list(range(seed * n_models, (seed + 1) * n_models)),
            "normalization": adata.uns.get("spatial_vae_qc", {}).get("normalization", "given features"),
            "notes": "one process per run: wall includes reading and preprocessing, peak_mem_mb is that process's peak RSS",
            "version": VERSION}
    out = RESULTS / "labels"; out.mkdir(parents=True, exist_ok=True)
    def record(name: str) -> dict:
        adata.obs[["spatial_vae_domain"]].rename(columns={"spatial_vae_domain": "domain"}).to_csv(
            out / f"{name}_{section}_seed{seed}.csv", index_label="barcode")
        return {"method": name, **score_domains(adata, label_key), "spatial_coherence": spatial_coherence(adata, edges),
                "refinement": bool(refine_hops) and name == method, **base}
    rows = []
    if refine_hops:   # the same run scored before and after the label refinement
        rows.append(record(f"{method}_no_refinement"))
        refine_domains(adata, edges, hops=refine_hops)
    return rows + [record(method)]


def run_missing(methods, sections, seeds, in_process: bool = False) -> None:
    "Each missing run in its own process (so its wall time and peak memory are its own), or all in this one (`in_process`: quicker, wall without imports); results appended as they come."
    import subprocess
    have = done_runs()
    OURS.parent.mkdir(parents=True, exist_ok=True)
    for section in sections:
        for method in methods:
            for seed in seeds:
                if (method, section, seed) in have or section not in ONLY_ON.get(method, (section,)): continue
                if method.startswith("pca_") or in_process:   # seconds each: in this process, where imports are paid once
                    rows = [{**r, "notes": "in-process run: peak_mem_mb is the peak of the process running all floor runs"}
                            for r in run_one(method, section, seed)]
                else:
                    proc = subprocess.run([sys.executable, __file__, "--one", method, section, str(seed)], capture_output=True, text=True)
                    if proc.returncode != 0: print(f"{method} {section} seed {seed} FAILED:\n{proc.stderr[-2000:]}", flush=True); continue
                    rows = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]
                with open(OURS, "a") as f:
                    for row in rows: f.write(json.dumps(row) + "\n")
                for row in rows:
                    print(f"{row['method']:20s} {section:28s} seed {seed}: ARI {row['ari']:.3f} NMI {row['nmi']:.3f} {row['wall_s']:.1f}s "
                          f"{row['peak_mem_mb']:.0f} MB", flush=True)


def load_all() -> pd.DataFrame:
    rows = []
    # spatial_vae_v3: the default's runs before the Laplacian spatial term and randomized PCA (2026-11-30), for comparison
    for path in (OURS, RESULTS / "spatial_vae_v3.jsonl", RESULTS / "peers.jsonl"):
        if path.exists(): rows += [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
    df = pd.DataFrame(rows)
    return df[df["status"] == "ok"]


PROTOCOL = """\
Number of domains = number of annotated classes; unannotated spots are clustered but not scored. Today's default is
the preset `default_preset(section)` names (bench/headline.md): `lean_e3_pca32` on DLPFC 151673/151674 and
`lean_mb512_e3` on the sections that bring their features (300 steps of ~512-spot minibatches, a vote over 3 models,
12 labellings), `torch_gmm_pca32` on STARmap (300 full-batch epochs, 5 models); run k trains model seeds 5k, 5k+1, ...
The rows named `spatial_vae` are the default of 2026-11-30, which ran with settings.ini's values then (Pearson-residual PCA, neighbourhood context, 32 latent dimensions, Adam at 0.002
for 300 full-batch epochs, 2-hop embedding smoothing, 5 models, each clustered by tied GMMs with 10 starts and 0, s,
2s and 3s spare components merged back by average linkage on their means, s = one per 7 domains (0-3 on DLPFC, 0, 3, 6
and 9 on the breast-cancer section's 20 regions), all 20 labellings put to a vote, one 2-ring majority-vote label
refinement); run k trains model seeds 5k..5k+4, so no model is shared between runs. Its wall time includes all 5
models. `spatial_vae_no_refinement` is the same runs scored before the refinement. `spatial_vae_x0123` is the
previous default, 0-3 spare components on every section, with the same model seeds: on DLPFC (7 domains) the default
gives the same counts, so those are the `spatial_vae` rows; on the breast-cancer section its runs were recorded as
`spatial_vae` and renamed when the default changed. `spatial_vae_extra2` is the default before that, two spare
components only, with the same model seeds (recorded as `spatial_vae` and renamed too; `_ensemble10`: the same with a
vote over 10 models, run k training seeds 10k..10k+9, 3-5 runs). `spatial_vae_lr1e3` is the default before that, Adam at 0.001 and two
spare components, with the same model seeds; every ablation below was measured at 0.001 too (their presets pin it),
so compare them with `spatial_vae_lr1e3`. `spatial_vae_extra1` is the default before that, one spare component
(`_extra1_ensemble10`: the same with a vote over 10 models). `spatial_vae_no_merge` fits exactly as many components as
domains (`extra_components = 0`), scored before and after its refinement. `spatial_vae_single_model` and `_latent16` switch one more option back from
`_no_merge_no_refinement` (3 runs: an ablation, not a ranking); the `_no_smoothing`, `_log1p` and `_no_context`
ablations were measured against the previous defaults (16 latent dimensions, one model) and are kept in
results/spatial_vae_v2.jsonl. `seed_vae` is the seed's exact
configuration. `pca_*` is the non-spatial floor on scanpy's standard log1p PCA. Peers run in their own
venvs with their recommended settings; GraphST and STAGATE cluster with a tied-covariance GMM instead of R's
mclust; SpaGCN and GraphST include their own label refinement (`refinement` column). One CPU thread per run on a
2-core machine; several runs shared the machine at times, so wall times are upper bounds. Wall time is the
whole run (reading, preprocessing, training, clustering) and peak MB the run's process peak RSS, except where
`notes` in the JSON says otherwise (floor runs share one process). domains.png maps each method's first run (seed 0),
coloured by each domain's best-matching layer; titles give the mean ARI over all runs. The peers' maps come from
reruns of seed 0 (their label files were on an earlier machine): BANKSY's rerun scored as recorded, SpaGCN's 0.553
and GraphST's 0.611 on 151673 against 0.497 and 0.484 recorded (neither is deterministic on this CPU), GraphST's
0.575 on 151674 against 0.590 recorded, STAGATE's 0.564 and 0.439 on 151673 and 151674 against 0.533 and 0.438
recorded (44-48 minutes per run on this machine now)."""


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
    (HERE / "table.md").write_text("# Benchmark: ARI/NMI over seeds, annotated spots only\n\n" + PROTOCOL + "\n\n" + text + "\n")
    print(text)
    return summary


def matched_colours(labels: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    "Each spot's colour by its domain (its matched class's, spatial_vae.evaluation.color_domains), and the classes' colours."
    import anndata as ad
    from spatial_vae.evaluation import color_domains
    obs = pd.DataFrame({"truth": pd.Categorical(np.where(truth == "nan", None, truth)), "domain": pd.Categorical(labels)})
    view = ad.AnnData(obs=obs)
    colours = color_domains(view, "domain", "truth")
    return np.asarray(colours)[view.obs["domain"].cat.codes.to_numpy()], np.asarray(view.uns["truth_colors"])


def figure() -> None:
    "bench/domains.png: each section's annotation beside today's default and the peers' seed-0 domains, in matched colours."
    import anndata as ad
    import matplotlib; matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from spatial_vae.data import shared_data_dir
    df = load_all()
    peers = [json.loads(l) for l in (RESULTS / "peers.jsonl").read_text().splitlines() if l.strip()]
    not_applicable = {(r["method"], r["section"]) for r in peers if r["status"] == "not_applicable"}
    # columns: today's default, then the baselines and peers that have a label file for some section
    candidates = ["seed_vae", "pca_gmm", "spagcn", "banksy", "graphst", "stagate"]
    methods = ["spatial_vae"] + [m for m in candidates if any((RESULTS / "labels").glob(f"{m}_*_seed*.csv"))]
    fig, axes = plt.subplots(len(SECTIONS), len(methods) + 1, figsize=(2.6 * (len(methods) + 1), 2.8 * len(SECTIONS)))
    for row, (section, (file, label_key, _)) in enumerate(SECTIONS.items()):
        adata = ad.read_h5ad(shared_data_dir() / file)
        xy = adata.obsm["spatial"]
        truth = adata.obs[label_key].astype(str).to_numpy()
        panels = [("annotation", truth)]
        for m in methods:
            name = default_preset(section) if m == "spatial_vae" else m
            runs = df[(df.method == name) & (df.section == section)]
            path = RESULTS / "labels" / (f"{name}_{section}_seed{int(runs.seed.min())}.csv" if len(runs) else "none")
            title = "spatial_vae (default)" if m == "spatial_vae" else m
            if path.exists():
                lab = pd.read_csv(path, index_col=0)["domain"].astype(str).reindex(adata.obs_names).to_numpy()
                panels.append((f"{title}\nARI {runs.ari.mean():.2f} ({len(runs)} runs)", lab))
            else:   # peers that cannot run on a section (GraphST, STAGATE need counts) leave a not_applicable record
                why = "needs counts" if (m, section) in not_applicable else "no label file" if len(runs) else "not run"
                panels.append((f"{title}\n({why})", None))
        for i, (ax, (title, lab)) in enumerate(zip(axes[row], panels)):
            ax.set_axis_off(); ax.set_title(title, fontsize=8)
            if lab is None: continue
            domain_colours, class_colours = matched_colours(lab, truth)
            if i == 0:   # the annotation in its own colours; unannotated spots grey
                classes = np.unique(truth[truth != "nan"])
                colours = np.where(truth == "nan", "#dddddd", class_colours[np.searchsorted(classes, truth).clip(0, len(classes) - 1)])
            else:
                colours = domain_colours
            ax.scatter(xy[:, 0], xy[:, 1], c=list(colours), s=1.5, rasterized=True)
            ax.invert_yaxis(); ax.set_aspect("equal")
        axes[row][0].text(-0.1, 0.5, section, transform=axes[row][0].transAxes, rotation=90, va="center", ha="right", fontsize=9)
    fig.tight_layout()
    fig.savefig(HERE / "domains.png", dpi=70)

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", nargs="*", default=list(METHODS))
    p.add_argument("--sections", nargs="*", default=list(SECTIONS))
    p.add_argument("--seeds", nargs="+", default=["0-9"], help="e.g. 0-9 or 0,1,2 (ranges split a section over processes)")
    p.add_argument("--table", action="store_true"); p.add_argument("--figure", action="store_true")
    p.add_argument("--in-process", action="store_true", help="run everything in this process (wall times then leave out imports)")
    p.add_argument("--one", nargs=3, help=argparse.SUPPRESS)            # child process: METHOD SECTION SEED
    a = p.parse_args()
    if a.one:
        for row in run_one(a.one[0], a.one[1], int(a.one[2])): print(json.dumps(row))
    elif a.table or a.figure:
        if a.table: table()
        if a.figure: figure()
    else:
        sys.path.insert(0, str(HERE / "peers"))
        from run_all import parse_seeds                                  # the peers' driver reads seeds the same way
        run_missing(a.methods, a.sections, parse_seeds(a.seeds), a.in_process)
