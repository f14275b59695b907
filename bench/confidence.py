"""Is the per-spot confidence calibrated? On annotated sections: agreement with the annotation per confidence band.

`spatial_vae_confidence` is the posterior of a spot's final domain averaged over the vote's labellings (models x
spare counts; before 2026-12-01 late night: the share of labellings that gave the spot that domain). Here each domain is matched to the annotation class it overlaps most (Hungarian, as the maps colour them),
and for each confidence band the script reports how many spots fall in it, the share whose domain matches their
class, and the share that sit at a domain border (a spatial neighbour in another domain). Calibrated means the
match rate rises with confidence. Run k trains models 5k..5k+4 (as bench/run.py does), so runs share no model. Writes
bench/confidence.md (the bands and deciles pooled over runs, a figure of the deciles, then every run),
bench/confidence.png and bench/results/confidence.json, and puts the pooled tables into chapter 05 (domains) between `<!-- confidence:start -->` and `<!-- confidence:end -->`.

    uv run python bench/confidence.py --sections DLPFC_151673 DLPFC_151674 --seeds 0 1 2 3 4 5 6 7 8 9
    uv run python bench/confidence.py --from-json   # tables and figure again from the recorded runs
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
BANDS = [0.0, 0.5, 0.7, 0.9, 1.0, 1.01]          # [0, .5), [.5, .7), [.7, .9), [.9, 1), exactly 1


def calibration(section: str, seed: int) -> pd.DataFrame:
    import anndata as ad
    from run import SECTIONS
    from spatial_vae.data import shared_data_dir
    from spatial_vae.domains import match_labels
    from spatial_vae.pipeline import run_pipeline
    path, label, features = SECTIONS[section]
    adata = ad.read_h5ad(shared_data_dir() / path)
    res = run_pipeline(adata, features_key=features, label_key=label, n_domains=adata.obs[label].nunique(), seed=5 * seed, progress=False)
    a, edges = res.adata, res.edges
    truth = a.obs[label].astype("category")
    scored = truth.cat.codes.to_numpy() >= 0
    domain = a.obs["spatial_vae_domain"].cat.codes.to_numpy()
    matched = match_labels(domain, truth.cat.codes.to_numpy(), len(truth.cat.categories), where=scored, keep_leftovers=True)
    correct = matched == truth.cat.codes.to_numpy()
    border = np.zeros(a.n_obs, bool)
    differ = domain[edges[0]] != domain[edges[1]]
    border[edges[0][differ]] = True
    conf = a.obs["spatial_vae_confidence"].to_numpy()
    band = pd.cut(conf, BANDS, right=False, labels=["<0.5", "0.5-0.7", "0.7-0.9", "0.9-1", "1"])
    frame = pd.DataFrame({"band": band, "correct": correct, "border": border, "scored": scored})
    out = frame[frame.scored].groupby("band", observed=False).agg(spots=("correct", "size"), match=("correct", "mean"))
    out["at_border"] = frame.groupby("band", observed=False)["border"].mean()
    # deciles of the run's annotated spots by confidence (ties broken by spot order): ten groups of equal size
    s = frame[frame.scored].assign(conf=conf[scored])
    s["band"] = "decile " + pd.Series(pd.qcut(s.conf.rank(method="first"), 10, labels=False) + 1, index=s.index).astype(str).str.zfill(2)
    dec = s.groupby("band").agg(spots=("correct", "size"), match=("correct", "mean"), at_border=("border", "mean"),
                                 low=("conf", "min"), high=("conf", "max"))
    out = pd.concat([out.reset_index(), dec.reset_index()], ignore_index=True)
    out["section"], out["seed"], out["ari"] = section, seed, res.metrics["ari"]
    return out


def pooled(table: pd.DataFrame) -> pd.DataFrame:
    "Each section's bands over all its runs: spots summed, match and border shares weighted by spots."
    t = table.assign(matched=table.spots * table.match.fillna(0), bordered=table.spots * table.at_border.fillna(0))
    g = t.groupby(["section", "band"], observed=True, sort=False).agg(runs=("seed", "nunique"), spots=("spots", "sum"),
                                                                        matched=("matched", "sum"), bordered=("bordered", "sum"))
    return g.assign(match=g.matched / g.spots, at_border=g.bordered / g.spots).reset_index()


def plot(table: pd.DataFrame, path: Path) -> None:
    "Per confidence decile, the share of spots matching their layer and the share at a domain border: a thin line per run, a thick one for the runs pooled, one panel per section."
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    d = table[table.band.str.startswith("decile")].assign(decile=lambda t: t.band.str.split().str[1].astype(int))
    sections = list(dict.fromkeys(d.section))
    fig, axes = plt.subplots(1, len(sections), figsize=(4.4 * len(sections), 3.4), sharey=True, squeeze=False)
    for ax, section in zip(axes[0], sections):
        s = d[d.section == section]
        for _, run in s.groupby("seed"): ax.plot(run.decile, run.match, color="tab:blue", alpha=0.25, lw=0.8)
        weighted = lambda col: s.assign(w=s.spots * s[col]).groupby("decile")[["w", "spots"]].sum().pipe(lambda g: g.w / g.spots)
        match, border = weighted("match"), weighted("at_border")
        ax.plot(match.index, match.values, color="tab:blue", lw=2.2, marker="o", label="matches its layer (thin: each run)")
        ax.plot(border.index, border.values, color="tab:red", lw=1.5, ls="--", marker="s", label="at a domain border")
        ax.set(title=f"{section} ({s.seed.nunique()} runs)", xlabel="confidence decile (1: least sure)", xticks=range(1, 11), ylim=(0, 1))
    axes[0][0].set_ylabel("share of the decile's spots"); axes[0][0].legend(frameon=False, fontsize=8, loc="center right")
    fig.tight_layout(); fig.savefig(path, dpi=110); plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sections", nargs="+", default=["DLPFC_151673", "DLPFC_151674"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--from-json", action="store_true", help="rebuild the tables and the figure from bench/results/confidence.json, no runs")
    a = p.parse_args(argv)
    if a.from_json: table = pd.read_json(HERE / "results" / "confidence.json", orient="records")
    else:
        table = pd.concat([calibration(s, k) for s in a.sections for k in a.seeds], ignore_index=True)
        (HERE / "results" / "confidence.json").write_text(table.to_json(orient="records", indent=1))
    plot(table, HERE / "confidence.png")
    fmt = lambda v: "" if np.isnan(v) else f"{v:.2f}"
    pool = pooled(table)
    summary = ["| section | runs | confidence | spots (all runs) | matches annotation | at a domain border |", "|---|---|---|---|---|---|"]
    summary += [f"| {r.section} | {r.runs} | {r.band} | {r.spots} | {fmt(r.match)} | {fmt(r.at_border)} |"
                for r in pool.itertuples() if not r.band.startswith("decile")]
    deciles = table[table.band.str.startswith("decile")]
    ranges = deciles.groupby(["section", "band"]).agg(low=("low", "median"), high=("high", "median"))
    pooled_deciles = pool[pool.band.str.startswith("decile")].sort_values(["section", "band"], kind="stable")
    summary += ["", "By decile of each run's annotated spots (ten groups of equal size, lowest confidence first; the "
                "confidence range is the median over runs):", "",
                "| section | runs | decile | confidence | matches annotation | at a domain border |", "|---|---|---|---|---|---|"]
    summary += [f"| {r.section} | {r.runs} | {int(r.band.split()[1])} | {ranges.loc[(r.section, r.band), 'low']:.3f}-"
                f"{ranges.loc[(r.section, r.band), 'high']:.3f} | {fmt(r.match)} | {fmt(r.at_border)} |" for r in pooled_deciles.itertuples()]
    lines = ["# Per-spot confidence against the annotation", "",
             "Made by `bench/confidence.py` (default pipeline; run k trains models 5k, 5k+1, ...: no run shares a model): per band of "
             "`spatial_vae_confidence` (the posterior of a spot's final domain averaged over the labellings, models x spare-component counts), the annotated spots in "
             "it, the share whose domain matches their layer (domains matched to layers by overlap), and the share at a "
             "domain border. Pooled over the runs:", "", *summary, "",
             "![Per confidence decile: the share of spots matching their layer and at a domain border](confidence.png)", "",
             "Every run:", "",
             "| section | run | ARI | confidence | spots | matches annotation | at a domain border |", "|---|---|---|---|---|---|---|"]
    for r in table[~table.band.str.startswith("decile")].itertuples():
        lines.append(f"| {r.section} | {r.seed} | {r.ari:.3f} | {r.band} | {r.spots} | {fmt(r.match)} | {fmt(r.at_border)} |")
    (HERE / "confidence.md").write_text("\n".join(lines) + "\n")
    from headline import write_between_markers
    write_between_markers(HERE.parent / "nbs" / "05_domains.ipynb", "\n".join(summary),
                          "<!-- confidence:start -->", "<!-- confidence:end -->")
    print("\n".join(lines))

if __name__ == "__main__":
    main()
