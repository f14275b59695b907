"""Where a default run's seconds go: a per-stage table of `spatial-vae run` on DLPFC 151673 and the built-in section.

Each section runs in a fresh process (imports included, as a user meets them), with the CLI's own code path
(`run_pipeline` then `write_outputs`). The steps the pipeline calls are wrapped with a timer, so the same script
profiles any version of the package: each call is one row (read, preprocess, graph, each model's training and
embedding, each clustering, vote, refinement, UMAP, each plot, each file written). Rows are appended to
bench/results/profile.jsonl under a --label; `--table` writes bench/profile.md with one column per label.

    uv run python bench/stage_profile.py --label after            # both sections, one process each
    uv run python bench/stage_profile.py --label narrow --set hidden_dims=64,32 latent_dim=16   # a candidate's settings
    uv run python bench/stage_profile.py --table

(Not named bench/profile.py: a file of that name in bench/ stands in for the standard library's `profile`, which
torch imports through cProfile, and breaks every script run from bench/.)
"""
from __future__ import annotations

import time

T0 = time.perf_counter()   # before any heavy import: the import row is real

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "profile.jsonl"
SECTIONS = {"DLPFC_151673": ("DLPFC_151673/DLPFC_151673.h5ad", "layer_guess_reordered", 7), "built-in": (None, "domain", 0),
            "STARmap_mPFC_BZ5": ("STARmap_mPFC_BZ5/starmap_mpfc_20180417_BZ5_control.h5ad", "layer", 4)}
# (module, function, stage name): the pipeline's steps; names missing from a version are skipped
WRAPPED = [("pipeline", "load_section", "read"), ("pipeline", "preprocess", "preprocess"), ("pipeline", "spatial_edges", "graph"),
           ("training", "embed", "embedding"), ("pipeline", "smooth_embedding", "smoothing"), ("pipeline", "find_domains", "clustering"),
           ("pipeline", "consensus_domains", "vote"), ("pipeline", "refine_domains", "refinement"), ("pipeline", "latent_umap", "UMAP"),
           ("pipeline", "plot_spatial_domains", "plot: domain map"), ("pipeline", "plot_latent_umap", "plot: UMAP"),
           ("pipeline", "plot_loss_history", "plot: loss curves"), ("pipeline", "save_model", "write: model.pt"),
           ("pipeline", "spatial_coherence", "scores"), ("pipeline", "score_domains", "scores"),
           ("pipeline", "train_spatial_vae", "training (incl. embedding)"), ("pipeline", "train_models", "training (incl. embedding)"),
           ("pipeline", "find_spatial_domains", "domains (all steps)"), ("pipeline", "write_outputs", "write outputs (all files)")]


def profile_one(section: str, label: str, overrides: dict | None = None) -> list[dict]:
    "Run the CLI's path on `section` in this process with every step timed (`overrides`: settings, as `run_pipeline` takes them); returns one row per call."
    import importlib
    import anndata as ad
    rows, depth = [], [0]
    imported = time.perf_counter() - T0
    mods = {m: importlib.import_module(f"spatial_vae.{m}") for m in ("pipeline", "training")}
    from spatial_vae.data import shared_data_dir
    imported_all = time.perf_counter() - T0

    def wrap(mod, name, stage):
        f = getattr(mod, name)
        def timed(*a, **k):
            depth[0] += 1; t = time.perf_counter()
            try: return f(*a, **k)
            finally:
                depth[0] -= 1
                rows.append({"stage": stage, "seconds": round(time.perf_counter() - t, 3), "nested": depth[0] > 0})
        setattr(mod, name, timed)
    for m, name, stage in WRAPPED:
        if hasattr(mods[m], name): wrap(mods[m], name, stage)
    # files: every atomic write is timed under its file name
    import spatial_vae.data as data
    atomic = data.atomic_write
    def timed_write(path, write, *a, **k):
        t = time.perf_counter()
        try: return atomic(path, write, *a, **k)
        finally: rows.append({"stage": f"write: {Path(path).name}", "seconds": round(time.perf_counter() - t, 3), "nested": depth[0] > 0})
    for mod in (data, mods["pipeline"], mods["training"]):
        if hasattr(mod, "atomic_write"): mod.atomic_write = timed_write
    file, label_key, k = SECTIONS[section]
    t = time.perf_counter()
    source = None if file is None else ad.read_h5ad(shared_data_dir() / file)
    read_s = time.perf_counter() - t
    start = time.perf_counter()
    kwargs = {**(overrides or {}), **({"n_domains": k} if k else {})}
    result = mods["pipeline"].run_pipeline(source, label_key=label_key, progress=False, **kwargs)
    with tempfile.TemporaryDirectory() as out:
        mods["pipeline"].write_outputs(result, Path(out) / "run")
    total = time.perf_counter() - start
    head = [{"stage": "imports (torch, scanpy, spatial_vae)", "seconds": round(imported_all, 3), "nested": False},
            {"stage": "read .h5ad", "seconds": round(read_s, 3), "nested": False}]
    tail = [{"stage": "total after imports", "seconds": round(total + read_s, 3), "nested": False},
            {"stage": "total (process)", "seconds": round(time.perf_counter() - T0, 3), "nested": False}]
    meta = {"label": label, "section": section, "ari": result.metrics.get("ari"), "overrides": overrides or {}}
    return [{**meta, **r} for r in head + rows + tail]


def table() -> str:
    import pandas as pd
    df = pd.DataFrame([json.loads(l) for l in RESULTS.read_text().splitlines() if l.strip()])
    parts = ["# Where a default run's seconds go\n",
             "Made by `bench/stage_profile.py`: `spatial-vae run`'s code path in a fresh process per section, one thread, on this "
             "2-core machine; every call the pipeline makes is timed (calls of one stage summed, their count in brackets). "
             "Indented stages run inside the one above them. Absolute seconds vary from run to run here; compare columns.\n"]
    for section, d in df.groupby("section", sort=False):
        labels = list(dict.fromkeys(d["label"]))
        g = d.groupby(["stage", "label"], sort=False).agg(seconds=("seconds", "sum"), calls=("seconds", "size"), nested=("nested", "first"))
        stages = list(dict.fromkeys(d["stage"]))
        lines = [f"## {section}\n", "| stage | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
        for s in stages:
            nested = bool(g.xs(s, level="stage")["nested"].iloc[0])
            cells = []
            for lab in labels:
                if (s, lab) in g.index:
                    r = g.loc[(s, lab)]
                    cells.append(f"{r.seconds:.2f}" + (f" ({int(r.calls)})" if r.calls > 1 else ""))
                else: cells.append("–")
            lines.append(f"| {'&nbsp;&nbsp;' if nested else ''}{s} | " + " | ".join(cells) + " |")
        aris = d.groupby("label", sort=False)["ari"].first()
        lines.append("| ARI | " + " | ".join("–" if pd.isna(aris[l]) else f"{aris[l]:.3f}" for l in labels) + " |")
        parts.append("\n".join(lines) + "\n")
    text = "\n".join(parts)
    (HERE / "profile.md").write_text(text)
    return text


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--label", default="now", help="column name in the table, e.g. before / after")
    p.add_argument("--sections", nargs="*", default=list(SECTIONS))
    p.add_argument("--table", action="store_true", help="write bench/profile.md from the recorded rows")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="settings overrides for a candidate, e.g. hidden_dims=64,32 latent_dim=16 (parsed as settings.ini values)")
    p.add_argument("--one", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        import warnings; warnings.filterwarnings("ignore")
        from spatial_vae.settings import _parse_value
        overrides = {k: _parse_value(v) for k, v in (kv.split("=", 1) for kv in a.set)}
        for row in profile_one(a.one, a.label, overrides): print(json.dumps(row))
    elif a.table: print(table())
    else:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        for section in a.sections:
            proc = subprocess.run([sys.executable, __file__, "--one", section, "--label", a.label, "--set", *a.set],
                                  capture_output=True, text=True)
            if proc.returncode: sys.exit(f"{section} failed:\n{proc.stderr[-3000:]}")
            rows = [l for l in proc.stdout.splitlines() if l.startswith("{")]
            with open(RESULTS, "a") as f: f.write("\n".join(rows) + "\n")
            print(f"{section}: {json.loads(rows[-1])['seconds']:.1f} s in all", flush=True)
        print(table())
