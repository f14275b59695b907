"""How many domains? Measure criteria for choosing K from the data (issue 24), before one becomes `n_domains = auto`.

For each section and run k: the default pipeline (models seeded 5k..5k+4, so runs share no model) at the annotated
number of domains (its ARI is the reference), then
for every K in 2..15 a tied mixture with K components on each of the ensemble's five smoothed embeddings. Recorded per
K: `stability` (mean pairwise ARI between the five models' labellings), `nested` (mean ARI of each model's labelling
at K against its own at K-1), `log_likelihood` (mean per spot) and `ari` (mean ARI of the five labellings against the
annotation). One JSON line per (section, seed) in bench/results/n_domains.jsonl, skipped when present; `--table`
applies each criterion to the recorded curves and writes bench/n_domains.md.

    uv run python bench/n_domains.py --sections builtin DLPFC_151673 --seeds 0 1
    uv run python bench/n_domains.py --table
"""
from __future__ import annotations

import argparse
import json
import time
import warnings
from itertools import combinations
from pathlib import Path

import numpy as np

from run import SECTIONS, VERSION

warnings.filterwarnings("ignore")
HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "n_domains.jsonl"
AUTO = HERE / "results" / "n_domains_auto.jsonl"   # the pipeline itself with n_domains = auto
K_RANGE = range(2, 16)
BUILTIN = "builtin"


def measure(section: str, seed: int) -> dict:
    import anndata as ad
    from sklearn.metrics import adjusted_rand_score
    from spatial_vae.data import shared_data_dir
    from spatial_vae.domains import fit_tied_mixture, smooth_embedding
    from spatial_vae.pipeline import run_pipeline
    t0 = time.perf_counter()
    seed_run, seed = seed, seed * 5   # run k trains models 5k..5k+4, as bench/run.py does: no model is shared between runs
    if section == BUILTIN:
        data, label_key, features_key, k_true = None, "domain", None, 5
        result = run_pipeline(None, n_domains=k_true, label_key=label_key, seed=seed, progress=False)
    else:
        file, label_key, features_key = SECTIONS[section]
        data = ad.read_h5ad(shared_data_dir() / file)
        k_true = data.obs[label_key].astype("category").cat.remove_unused_categories().nunique()
        result = run_pipeline(data, n_domains=k_true, label_key=label_key, features_key=features_key, seed=seed, progress=False)
    adata, edges = result.adata, result.edges
    truth = adata.obs[label_key].astype(str).to_numpy()
    scored = truth != "nan"
    reps = ["X_spatial_vae"] + [f"X_spatial_vae_member{i}" for i in range(1, result.metrics["ensemble"])]
    smoothed = [smooth_embedding(adata, edges, rep, hops=2, key_added=f"{rep}_k") for rep in reps]
    rows, previous = [], None
    for k in K_RANGE:
        fits = [fit_tied_mixture(z, k, seed=seed + i, device="cpu") for i, z in enumerate(smoothed)]
        labels = [f.labels for f in fits]
        rows.append({"k": k,
                     "stability": float(np.mean([adjusted_rand_score(a, b) for a, b in combinations(labels, 2)])),
                     "nested": None if previous is None else float(np.mean([adjusted_rand_score(a, b) for a, b in zip(labels, previous)])),
                     "log_likelihood": float(np.mean([f.log_likelihood for f in fits])),
                     "ari": float(np.mean([adjusted_rand_score(truth[scored], l[scored]) for l in labels]))})
        previous = labels
    return {"section": section, "seed": seed_run, "model_seeds": list(range(seed, seed + len(reps))), "k_true": int(k_true), "ari_at_k_true": result.metrics["ari"],
            "n_spots": adata.n_obs, "dims": int(smoothed[0].shape[1]), "curve": rows,
            "wall_s": round(time.perf_counter() - t0, 1), "version": VERSION}


def pipeline_auto(section: str, seed: int) -> dict:
    "The default pipeline with n_domains = auto (models 5k, 5k+1, ...): the K it chose and the ARI of its final domains."
    import anndata as ad
    from spatial_vae.data import shared_data_dir
    from spatial_vae.pipeline import run_pipeline
    t0 = time.perf_counter()
    if section == BUILTIN:
        r = run_pipeline(None, n_domains="auto", label_key="domain", seed=5 * seed, progress=False)
    else:
        file, label_key, features_key = SECTIONS[section]
        r = run_pipeline(ad.read_h5ad(shared_data_dir() / file), n_domains="auto", label_key=label_key, features_key=features_key,
                         seed=5 * seed, progress=False)
    return {"section": section, "seed": seed, "chosen": r.metrics["n_domains_auto"]["chosen"], "n_domains": r.metrics["n_domains"],
            "ari": r.metrics["ari"], "models": r.metrics["ensemble"], "wall_s": round(time.perf_counter() - t0, 1), "version": VERSION}


CRITERIA = {
    "most stable": lambda c: max(c, key=lambda r: (r["stability"], r["k"]))["k"],
    "most stable, K >= 3": lambda c: max((r for r in c if r["k"] >= 3), key=lambda r: (r["stability"], r["k"]))["k"],
    "finest K within 0.05 of the most stable": lambda c: max(r["k"] for r in c if r["stability"] >= max(x["stability"] for x in c) - 0.05),
    "most nested (K vs K-1)": lambda c: max((r for r in c if r["nested"] is not None), key=lambda r: (r["nested"], r["k"]))["k"],
}


def table() -> str:
    rows = [json.loads(l) for l in OUT.read_text().splitlines() if l.strip()]
    lines = ["# Choosing the number of domains: criteria measured on the development sections", "",
             "`bench/n_domains.py`. Per section and seed: the annotated K and the default's ARI there; for each criterion "
             "the K it picks and the mean ARI of the five models' mixture labellings at that K against the annotation "
             "(no vote or refinement, so compare within a row).", "",
             "| section | seed | annotated K | default ARI at it | mixture ARI at it | " + " | ".join(CRITERIA) + " |",
             "|---|---|---|---|---|" + "---|" * len(CRITERIA)]
    for r in rows:
        by_k = {c["k"]: c for c in r["curve"]}
        picks = [f(r["curve"]) for f in CRITERIA.values()]
        at_true = f"{by_k[r['k_true']]['ari']:.3f}" if r["k_true"] in by_k else f"– (outside {min(by_k)}-{max(by_k)})"
        lines.append(f"| {r['section']} | {r['seed']} | {r['k_true']} | {r['ari_at_k_true']:.3f} | {at_true} | "
                     + " | ".join(f"{k} ({by_k[k]['ari']:.3f})" for k in picks) + " |")
    auto = [json.loads(l) for l in AUTO.read_text().splitlines() if l.strip()] if AUTO.exists() else []
    auto = list({(a["section"], a["seed"]): a for a in auto}.values())   # a run measured --again: its latest record
    if auto:
        truth = {(r["section"], r["seed"]): r for r in rows}
        lines += ["", "The pipeline itself with `n_domains = auto` (`--auto`): the K it chose and the ARI of its final domains "
                  "(vote and refinement included), beside the default's ARI at the annotated K from the criteria run of the same seed "
                  "(five models, the table above):", "",
                  "| section | run | annotated K | ARI at it | K chosen | ARI at the chosen K | models | version | wall s |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for a in auto:
            t = truth.get((a["section"], a["seed"]))
            lines.append(f"| {a['section']} | {a['seed']} | {t['k_true'] if t else ''} | {t['ari_at_k_true']:.3f} | " if t else f"| {a['section']} | {a['seed']} | | | ")
            lines[-1] += f"{a['chosen']} | {a['ari']:.3f} | {a.get('models', 5)} | {a['version']} | {a['wall_s']} |"
    lines += ["", "Curves (stability / nested / ARI per K):", ""]
    for r in rows:
        lines.append(f"- {r['section']} seed {r['seed']}: " + ", ".join(
            f"{c['k']}: {c['stability']:.2f}/{'-' if c['nested'] is None else format(c['nested'], '.2f')}/{c['ari']:.2f}" for c in r["curve"]))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sections", nargs="*", default=[BUILTIN, "DLPFC_151673", "DLPFC_151674", "STARmap_mPFC_BZ5", "BRCA_V1_Block_A_Section_1"])
    p.add_argument("--seeds", nargs="*", type=int, default=[0])
    p.add_argument("--table", action="store_true")
    p.add_argument("--auto", action="store_true", help="run the pipeline with n_domains = auto instead of measuring the criteria")
    p.add_argument("--again", action="store_true", help="run even where a record exists (a changed default); the table keeps the latest")
    a = p.parse_args()
    if a.again and not a.auto: p.error("--again reruns --auto records only (the criteria table keeps every record)")
    if a.table:
        text = table(); print(text); (HERE / "n_domains.md").write_text(text)
    else:   # resumable: one JSON line per (section, run), skipped when present
        out, run = (AUTO, pipeline_auto) if a.auto else (OUT, measure)
        done = {(r["section"], r["seed"]) for r in map(json.loads, out.read_text().splitlines())} if out.exists() else set()
        for section in a.sections:
            for seed in a.seeds:
                if (section, seed) in done and not a.again: print(f"{section} run {seed}: done already"); continue
                r = run(section, seed)
                with out.open("a") as f: f.write(json.dumps(r) + "\n")
                print(f"{section} run {seed}: " + (f"K {r['chosen']}, ARI {r['ari']:.3f}" if a.auto else
                      f"K true {r['k_true']}, " + ", ".join(f"{name}: {f(r['curve'])}" for name, f in CRITERIA.items()))
                      + f", {r['wall_s']} s", flush=True)
