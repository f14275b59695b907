"""Several sections in one run against one at a time (issue 24): DLPFC 151673 and 151674, the default pipeline.

Joint: `run_pipeline([151673, 151674])` (one model ensemble over both, edges inside each section, each section's mean
features subtracted, one set of domains), run k with models seeded 5k..5k+4. Separate: the recorded default runs of
each section alone (bench/run.py's preset for today's default, same seeds, labels in bench/results/labels). Per
section: ARI against the layers. Pooled: ARI of all spots' labels against all spots' layers, which is only high when
the same domain carries the same label in both sections. One JSON line per joint run in bench/results/study.jsonl;
`--table` writes bench/study.md. Caveat: the two files hold 5,000 genes each and share 2,340, so the joint run sees
fewer genes than either section alone (the run's note says so); part of a per-section difference may be that.

    uv run python bench/study.py --seeds 0 1 2 3 4
    uv run python bench/study.py --table
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from run import SECTIONS, VERSION, default_preset

warnings.filterwarnings("ignore")
HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "study.jsonl"
PAIR = ("DLPFC_151673", "DLPFC_151674")
LABEL = "layer_guess_reordered"


def _read(section: str):
    import anndata as ad
    from spatial_vae.data import shared_data_dir
    return ad.read_h5ad(shared_data_dir() / SECTIONS[section][0])


def joint(seed: int) -> dict:
    from spatial_vae.pipeline import run_pipeline
    t0 = time.perf_counter()
    r = run_pipeline({s: _read(s) for s in PAIR}, n_domains=7, label_key=LABEL, seed=5 * seed, progress=False)
    return {"seed": seed, "model_seeds": list(range(5 * seed, 5 * seed + 5)), "pooled_ari": r.metrics["ari"],
            "sections": {s: r.metrics["sections"][s]["ari"] for s in PAIR}, "wall_s": round(time.perf_counter() - t0, 1),
            "version": VERSION}


def separate(seed: int) -> dict | None:
    "The recorded single-section default runs with this seed: each section's ARI, and the ARI of their labels pooled."
    from sklearn.metrics import adjusted_rand_score
    labels, truth, per = [], [], {}
    runs = [json.loads(l) for l in (HERE / "results" / "spatial_vae.jsonl").read_text().splitlines() if l.strip()]
    for s in PAIR:
        path = HERE / "results" / "labels" / f"{default_preset(s)}_{s}_seed{seed}.csv"
        rec = [r for r in runs if r["method"] == default_preset(s) and r["section"] == s and r["seed"] == seed]
        if not path.exists() or not rec: return None
        adata = _read(s)
        lab = pd.read_csv(path, index_col=0)["domain"].astype(str).reindex(adata.obs_names).to_numpy()
        labels.append(lab); truth.append(adata.obs[LABEL].astype(str).to_numpy()); per[s] = rec[-1]["ari"]
    lab, tru = np.concatenate(labels), np.concatenate(truth)
    scored = tru != "nan"
    return {"seed": seed, "pooled_ari": float(adjusted_rand_score(tru[scored], lab[scored])), "sections": per}


def table() -> str:
    rows = [json.loads(l) for l in OUT.read_text().splitlines() if l.strip()]
    seps = [s for s in (separate(r["seed"]) for r in rows) if s]
    fmt = lambda xs: f"{statistics.mean(xs):.3f} ± {statistics.stdev(xs):.3f} ({len(xs)})" if len(xs) > 1 else f"{xs[0]:.3f} (1)"
    lines = ["# Two sections in one run against one at a time", "", __doc__.split("\n\n")[1].replace("\n", " "), "",
             "| | " + " | ".join(PAIR) + " | pooled labels |", "|---|---|---|---|"]
    for name, group in (("jointly (one run)", rows), ("one at a time", seps)):
        lines.append(f"| {name} | " + " | ".join(fmt([g["sections"][s] for g in group]) for s in PAIR)
                     + f" | {fmt([g['pooled_ari'] for g in group])} |")
    lines += ["", "Every run:", "", "| run | how | " + " | ".join(PAIR) + " | pooled | wall s | version |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['seed']} | jointly | " + " | ".join(f"{r['sections'][s]:.3f}" for s in PAIR)
                     + f" | {r['pooled_ari']:.3f} | {r['wall_s']} | {r['version']} |")
    for s in seps:
        lines.append(f"| {s['seed']} | separately | " + " | ".join(f"{s['sections'][x]:.3f}" for x in PAIR) + f" | {s['pooled_ari']:.3f} | | |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--table", action="store_true")
    a = p.parse_args()
    if a.table:
        text = table(); print(text); (HERE / "study.md").write_text(text)
    else:
        done = {r["seed"] for r in map(json.loads, OUT.read_text().splitlines())} if OUT.exists() else set()
        for seed in a.seeds:
            if seed in done: print(f"run {seed}: done already"); continue
            r = joint(seed)
            with OUT.open("a") as f: f.write(json.dumps(r) + "\n")
            print(f"run {seed}: {r['sections']}, pooled {r['pooled_ari']:.3f}, {r['wall_s']} s", flush=True)
