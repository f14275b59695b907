"""Several sections in one run against one at a time (issue 24): DLPFC 151673 and 151674, the default pipeline.

Joint: `run_pipeline([151673, 151674])` (one model ensemble over both, edges inside each section, each section's mean
features subtracted, one set of domains, voted over joint and per-section labellings since 2026-12-01 late night), run k with models seeded 5k, 5k+1, ... (as many as the default votes over). Separate: the recorded default runs of
each section alone (bench/run.py's preset for today's default, same seeds, labels in bench/results/labels). Per
section: ARI against the layers. Pooled: ARI of all spots' labels against all spots' layers, which is only high when
the same domain carries the same label in both sections. One JSON line per joint run in bench/results/study.jsonl;
`--table` writes bench/study.md. Caveat: the two files hold 5,000 genes each and share 2,340, so the joint run sees
fewer genes than either section alone (the run's note says so). Measured with `--alone`: alone on the
shared genes each section scores higher than on all its genes, so the gene set does not explain 151673's lower joint score.

    uv run python bench/study.py --seeds 0 1 2 3 4
    uv run python bench/study.py --table
    uv run --with harmonypy python bench/study.py --correction harmony --seeds 0 1 2 3 4   # Harmony instead of centring
    uv run python bench/study.py --correction covariate --seeds 0 1 2 3 4   # the section given to the decoder instead
    uv run python bench/study.py --max-steps 600 --seeds 0 1 2 3 4   # twice the steps: each spot seen as often as alone
    uv run python bench/study.py --probe-clustering --seeds 0 1 2 3 4   # also a mixture per section on the joint embeddings

Scale (`--scale 12`): a study of 12 sections, as in issue 24 (about 47,000 spots), stacked from the development data:
151673 and 151674 six times each, every copy's counts thinned binomially (keep each count with p = 0.9, its own seed)
so that no two copies are the same data. One joint default run from the stacked files (`run_pipeline` over 12 paths),
timed from reading to the end of the pipeline plus writing the outputs, with the run's peak memory; one JSON line
per run in bench/results/study_scale.jsonl, table in bench/study.md.

    uv run python bench/study.py --alone --seeds 0 1 2 3 4   # each section alone, on all genes and on the shared ones
    uv run python bench/study.py --scale 12
    uv run python bench/study.py --scale 12 --ensemble 5     # the vote over five models, as on a single section
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
SCALE_OUT = HERE / "results" / "study_scale.jsonl"
PAIR = ("DLPFC_151673", "DLPFC_151674")
LABEL = "layer_guess_reordered"


def _read(section: str):
    import anndata as ad
    from spatial_vae.data import shared_data_dir
    return ad.read_h5ad(shared_data_dir() / SECTIONS[section][0])


def clustered_per_section(r) -> dict:
    "A probe: each section's spots of a joint run clustered on their own (the joint run's embeddings, smoothing, vote and refinement, but a mixture per section), each section's domains matched to the first's by their mean embeddings: ARI per section and pooled."
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics import adjusted_rand_score
    from spatial_vae.pipeline import SECTION_KEY, domains_from_settings
    from spatial_vae.evaluation import score_domains
    out, labels, truth, ref = {}, [], [], None
    for s in PAIR:
        keep = (r.adata.obs[SECTION_KEY] == s).to_numpy()
        sub = r.adata[keep].copy()
        sub.uns.pop("spatial_vae_study", None)   # one section: clustered as a section alone is
        new = np.full(len(keep), -1); new[keep] = np.arange(keep.sum())
        inside = keep[r.edges[0]] & keep[r.edges[1]]
        rep = domains_from_settings(sub, new[r.edges[:, inside]], r.metrics["settings"], r.training.member_keys)
        out[s] = score_domains(sub, LABEL)["ari"]
        lab = sub.obs["spatial_vae_domain"].astype(str).to_numpy()
        names = np.unique(lab)
        means = np.stack([sub.obsm[rep][lab == n].mean(0) for n in names])
        if ref is None: ref = (names, means); mapped = lab
        else:   # the domain of the first section whose mean embedding is closest, one to one
            rows, cols = linear_sum_assignment(((means[:, None] - ref[1][None]) ** 2).sum(-1))
            to = {names[i]: ref[0][j] for i, j in zip(rows, cols)}
            mapped = np.array([to.get(x, f"{s}:{x}") for x in lab])
        labels.append(mapped); truth.append(sub.obs[LABEL].astype(str).to_numpy())
    lab, tru = np.concatenate(labels), np.concatenate(truth)
    scored = tru != "nan"
    out["pooled"] = float(adjusted_rand_score(tru[scored], lab[scored]))
    return out


def joint(seed: int, correction: str = "center", max_steps: int | None = None, probe: bool = False) -> dict:
    from spatial_vae.pipeline import run_pipeline
    t0 = time.perf_counter()
    r = run_pipeline({s: _read(s) for s in PAIR}, n_domains=7, label_key=LABEL, seed=5 * seed, progress=False,
                     batch_correction=correction, max_steps=max_steps)
    wall = round(time.perf_counter() - t0, 1)
    models, per_section = r.metrics["ensemble"], "highly_variable_nbatches" in r.adata.var
    alone_too = any(k.endswith("_alone") for k in r.adata.uns["spatial_vae_domain"].get("consensus_of", []))
    # residual_clip: each section's residuals clipped at sqrt(its spots), scanpy's default ("stack": sqrt of the stack's
    # spots, the code of a235926 only)
    return {"seed": seed, "correction": correction, "models": models, "genes_per_section": per_section, "residual_clip": "section",
            **({"max_steps": max_steps} if max_steps else {}), **({"vote": "joint and sections alone"} if alone_too else {}), "model_seeds": list(range(5 * seed, 5 * seed + models)), "pooled_ari": r.metrics["ari"],
            "sections": {s: r.metrics["sections"][s]["ari"] for s in PAIR}, "wall_s": wall, "version": VERSION,
            **({"clustered_per_section": clustered_per_section(r)} if probe else {})}


def protocol(r: dict) -> tuple:
    "What a joint record measured: (correction, models, genes and residuals per section, residual clip, max_steps, labellings voted over); records before 2026-12-01 night lack the newer fields: 5 models, pooled residuals, joint labellings only."
    return (r.get("correction", "center"), r.get("models", 5), r.get("genes_per_section", False), r.get("residual_clip"), r.get("max_steps"),
            r.get("vote", "joint"))


ALONE_OUT = HERE / "results" / "study_alone.jsonl"


def alone(seed: int) -> list[dict]:
    "Each section alone through run_pipeline with the joint run's model seeds, on all its genes and on the genes both files share."
    from spatial_vae.pipeline import run_pipeline
    sections = {s: _read(s) for s in PAIR}
    shared = sorted(set(sections[PAIR[0]].var_names) & set(sections[PAIR[1]].var_names))
    rows = []
    for s, a in sections.items():
        for genes, data in (("all", a), ("shared", a[:, shared].copy())):
            r = run_pipeline(data, n_domains=7, label_key=LABEL, seed=5 * seed, progress=False)
            rows.append({"seed": seed, "section": s, "genes": genes, "n_genes": int(data.n_vars), "ari": r.metrics["ari"],
                         "models": r.metrics["ensemble"], "version": VERSION})
    return rows


def alone_table() -> list[str]:
    if not ALONE_OUT.exists(): return []
    d = pd.DataFrame([json.loads(l) for l in ALONE_OUT.read_text().splitlines() if l.strip()])
    lines = ["", "## Alone, on all genes and on the shared genes", "",
             "Each section alone (`--alone`: `run_pipeline` with the joint runs' model seeds), on its own 5,000 genes and on the "
             "2,340 genes the two files share, which is all a joint run sees: how much of a joint run's per-section difference is "
             "the gene set. Mean ± sd (runs).", "", "| genes | " + " | ".join(PAIR) + " |", "|---|---|---|"]
    d["models"] = d["models"].fillna(5).astype(int) if "models" in d else 5   # records before 2026-12-01 night: 5 models
    for (genes, models), g in d.groupby(["genes", "models"], sort=False):
        cells = [g[g.section == s].ari for s in PAIR]
        lines.append(f"| {genes}, {models} models | " + " | ".join(f"{c.mean():.3f} ± {c.std():.3f} ({len(c)})" for c in cells) + " |")
    return lines


def scale(n_sections: int, seed: int = 0, ensemble: int | None = None) -> dict:
    "One joint default run over `n_sections` thinned copies of 151673 and 151674, written as files first (as a user has them)."
    import tempfile
    import scipy.sparse as sp
    from spatial_vae.pipeline import peak_memory_mb, run_pipeline, write_outputs
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(n_sections):
            section = _read(PAIR[i % 2])
            counts = sp.csr_matrix(section.X)
            counts.data = rng.binomial(counts.data.astype(np.int64), 0.9).astype(np.float32)
            counts.eliminate_zeros()
            section.X = counts
            paths.append(Path(tmp) / f"{PAIR[i % 2]}_copy{i // 2 + 1}.h5ad"); section.write_h5ad(paths[-1])
        t0 = time.perf_counter()
        r = run_pipeline(paths, n_domains=7, label_key=LABEL, seed=seed, progress=False, ensemble=ensemble)
        write_outputs(r, Path(tmp) / "out")
        wall = time.perf_counter() - t0
    per = {name: part["ari"] for name, part in r.metrics["sections"].items()}
    return {"n_sections": n_sections, "n_spots": r.metrics["n_spots"], "n_genes": r.metrics["n_genes"], "seed": seed,
            "wall_s": round(wall, 1), "timings_s": r.metrics["timings_s"], "peak_memory_mb": round(peak_memory_mb()),
            "ensemble": r.metrics["ensemble"], "pooled_ari": r.metrics["ari"], "sections": per,
            "median_section_ari": float(np.median(list(per.values()))), "version": VERSION}


def pooled_residuals_clipped_per_section() -> None:
    "A probe for --scale: pooled genes and residuals (no batch_key) but clipped at sqrt(one section's spots), to separate the clip from the per-section residual model."
    import scanpy as sc
    import spatial_vae.pipeline as pipeline
    residuals, preprocess = sc.experimental.pp.normalize_pearson_residuals, pipeline.preprocess
    def clipped(adata, **kw):
        kw.setdefault("clip", float(np.sqrt(adata.n_obs / adata.obs["section"].nunique())))
        return residuals(adata, **kw)
    sc.experimental.pp.normalize_pearson_residuals = clipped
    pipeline.preprocess = lambda adata, **kw: preprocess(adata, **{**kw, "batch_key": None})


def scale_table() -> list[str]:
    if not SCALE_OUT.exists(): return []
    rows = [json.loads(l) for l in SCALE_OUT.read_text().splitlines() if l.strip()]
    lines = ["", "## A study of many sections in one run", "", __doc__.split("\n\n")[3].replace("\n", " "), "",
             "| sections | spots | shared genes | models | wall s (read to written) | peak MB | section ARI median (min-max) | pooled ARI | slowest steps (s) | version |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        v = list(r["sections"].values())
        slow = ", ".join(f"{k} {t:.0f}" for k, t in sorted(r["timings_s"].items(), key=lambda kv: -kv[1])[:3])
        lines.append(f"| {r['n_sections']}{' (' + r['variant'] + ')' if r.get('variant') else ''} | {r['n_spots']:,} | {r['n_genes']:,} | {r['ensemble']} | {r['wall_s']} | {r['peak_memory_mb']:,} | "
                     f"{r['median_section_ari']:.3f} ({min(v):.3f}-{max(v):.3f}) | {r['pooled_ari']:.3f} | {slow} | {r['version']} |")
    return lines


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
    rows = list({(protocol(r), r["seed"]): r for r in rows}.values())   # a seed rerun with --probe-clustering: its last record
    seps = [s for s in (separate(seed) for seed in sorted({r["seed"] for r in rows})) if s]
    fmt = lambda xs: f"{statistics.mean(xs):.3f} ± {statistics.stdev(xs):.3f} ({len(xs)})" if len(xs) > 1 else f"{xs[0]:.3f} (1)"
    lines = ["# Two sections in one run against one at a time", "", __doc__.split("\n\n")[1].replace("\n", " "), "",
             "| | " + " | ".join(PAIR) + " | pooled labels |", "|---|---|---|---|"]
    label = lambda c, m, g, clip, steps, vote: (f"jointly, batch_correction = {c}, {m} models" + (", genes and residuals per section" if g else "")
                                                + (" (residuals clipped at sqrt(spots in the stack), a235926)" if g and clip == "stack" else "")
                                                + (f", max_steps = {steps}" if steps else "")
                                                + (", the vote over joint and per-section labellings" if vote != "joint" else ""))
    for name, group in ([(label(*h), [r for r in rows if protocol(r) == h]) for h in dict.fromkeys(map(protocol, rows))]
                        + [("one at a time", seps)]):
        lines.append(f"| {name} | " + " | ".join(fmt([g["sections"][s] for g in group]) for s in PAIR)
                     + f" | {fmt([g['pooled_ari'] for g in group])} |")
    probed = [r for r in rows if "pooled" in r.get("clustered_per_section", {})]
    if probed:   # --probe-clustering: the same joint runs, each section's spots clustered on their own
        lines.append("| the same joint runs, a mixture per section, domains matched by mean embedding (`--probe-clustering`) | "
                     + " | ".join(fmt([r["clustered_per_section"][k] for r in probed]) for k in (*PAIR, "pooled")) + " |")
    lines += ["", "Every run:", "", "| run | how | " + " | ".join(PAIR) + " | pooled | wall s | version |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['seed']} | jointly ({r.get('correction', 'center')}, {r.get('models', 5)} models"
                     f"{', per section' if r.get('genes_per_section') else ''}{', max_steps ' + str(r['max_steps']) if r.get('max_steps') else ''}"
                     f"{', vote with sections alone' if r.get('vote') else ''}) | " + " | ".join(f"{r['sections'][s]:.3f}" for s in PAIR)
                     + f" | {r['pooled_ari']:.3f} | {r['wall_s']} | {r['version']} |")
    for s in seps:
        lines.append(f"| {s['seed']} | separately | " + " | ".join(f"{s['sections'][x]:.3f}" for x in PAIR) + f" | {s['pooled_ari']:.3f} | | |")
    return "\n".join(lines + alone_table() + scale_table()) + "\n"


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--table", action="store_true")
    p.add_argument("--correction", default="center", help="batch_correction of the joint runs: center, harmony, covariate or none")
    p.add_argument("--probe-clustering", action="store_true", help="also cluster each section's spots of the joint run on their own (recorded beside)")
    p.add_argument("--max-steps", type=int, help="max_steps of the joint runs (default: settings.ini's)")
    p.add_argument("--alone", action="store_true", help="each section alone on all and on the shared genes, --seeds")
    p.add_argument("--scale", type=int, help="one joint run over this many thinned copies of the two sections")
    p.add_argument("--pooled-clipped", action="store_true", help="with --scale: pooled residuals clipped at one section's size (a probe)")
    p.add_argument("--ensemble", type=int, help="with --scale: models in the vote (default: settings.ini, one model above 20,000 spots)")
    a = p.parse_args()
    if a.alone or not (a.table or a.scale):   # today's default vote: a record made with another is redone
        from spatial_vae.pipeline import ensemble_size, merged_settings
        MODELS = ensemble_size(merged_settings({}), sum(_read(s).n_obs for s in PAIR))
    if a.alone:
        done = {r["seed"] for r in map(json.loads, ALONE_OUT.read_text().splitlines()) if r.get("models", 5) == MODELS} if ALONE_OUT.exists() else set()
        for seed in a.seeds:
            if seed in done: continue
            rows = alone(seed)
            with ALONE_OUT.open("a") as f: f.write("".join(json.dumps(r) + "\n" for r in rows))
            print(f"seed {seed}: " + ", ".join(f"{r['section']} {r['genes']} {r['ari']:.3f}" for r in rows), flush=True)
    elif a.scale:
        if a.pooled_clipped: pooled_residuals_clipped_per_section()
        r = scale(a.scale, ensemble=a.ensemble) | ({"variant": "pooled residuals, clipped at one section's size"} if a.pooled_clipped else {})
        with SCALE_OUT.open("a") as f: f.write(json.dumps(r) + "\n")
        print(f"{r['n_sections']} sections, {r['n_spots']:,} spots: {r['wall_s']} s, peak {r['peak_memory_mb']} MB, "
              f"section ARI median {r['median_section_ari']:.3f}, pooled {r['pooled_ari']:.3f}", flush=True)
    elif a.table:
        text = table(); print(text); (HERE / "study.md").write_text(text)
    else:
        today = (a.correction, MODELS, True, "section", a.max_steps, "joint and sections alone")   # the joint run `joint` makes now
        done = {r["seed"] for r in map(json.loads, OUT.read_text().splitlines())
                if protocol(r) == today and (not a.probe_clustering or "pooled" in r.get("clustered_per_section", {}))} if OUT.exists() else set()
        for seed in a.seeds:
            if seed in done: print(f"run {seed}: done already"); continue
            r = joint(seed, a.correction, a.max_steps, a.probe_clustering)
            with OUT.open("a") as f: f.write(json.dumps(r) + "\n")
            print(f"run {seed}: {r['sections']}, pooled {r['pooled_ari']:.3f}, {r['wall_s']} s"
                  + (f"; clustered per section {r['clustered_per_section']}" if a.probe_clustering else ""), flush=True)
