"""Scaling benchmark: the whole pipeline on synthetic Visium HD-like sections of 10^4, 10^5 and 10^6 bins.

Each size runs in its own process (so peak memory is that size's own) through `run_pipeline` with the defaults
and the true number of domains, then `write_outputs`; it records wall time and the process's peak memory after
every step, and ARI against the simulated domains. Resumable: one JSON line per size in
bench/results/scaling.jsonl, skipped when present. `--peers` runs BANKSY (and SpaGCN) in their own venvs (see
bench/peers/) on the 10^4 section, or on the realistic sections' bins and 48 µm squares, for comparison. `--table` writes bench/scaling.md and the summary JSON,
`--plot` the log-log figure bench/scaling.png.

    uv run python bench/scaling.py                       # sizes not yet measured
    uv run python bench/scaling.py --peers               # BANKSY and SpaGCN at 10^4
    uv run python bench/scaling.py --peers DLPFC_151673_hd008um_sq48 DLPFC_151673_hd008um   # BANKSY on squares, bins
    uv run python bench/scaling.py --table --plot
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
OURS, PEERS = RESULTS / "scaling.jsonl", RESULTS / "scaling_peers.jsonl"
DATA = RESULTS / "scaling_data"
HD_DATA = RESULTS / "hd_data"
SIZES = (10_000, 100_000, 1_000_000)
STEPS = ("generate", "preprocess", "graph", "train", "domains", "umap", "write")
PEER_VENVS = Path(os.environ.get("SPATIAL_VAE_PEER_VENVS", "/work/peer_venvs"))
PEER_SIZE = 10_000


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def run_size(n: int | str, seed: int = 0) -> dict:
    """One section, end to end, in this process: generate (or read) it, pipeline (defaults, true domain count), write
    outputs. `n`: a number of synthetic bins, or the name of a realistic section in bench/results/hd_data (hd_sections.py)."""
    from spatial_vae.data import synthetic_hd
    from spatial_vae.pipeline import peak_memory_mb, run_pipeline, write_outputs
    t0, version = time.perf_counter(), _version()          # the code this run loaded, not the HEAD when it ends
    realistic = not str(n).isdigit()
    if realistic and not (HD_DATA / f"{n}.h5ad").exists(): raise SystemExit(f"{HD_DATA / n}.h5ad is missing: build it with bench/hd_sections.py")
    from spatial_vae.data import load_section            # as a user's file is read: bins summed into bin_size squares
    adata = load_section(HD_DATA / f"{n}.h5ad") if realistic else synthetic_hd(int(n), seed=seed)
    label = adata.uns["ground_truth_key"]
    steps = {"generate": {"s": round(time.perf_counter() - t0, 2), "peak_mb": peak_memory_mb()}}
    n_domains = adata.obs[label].nunique()
    result = run_pipeline(adata, progress=False, n_domains=n_domains, seed=seed, label_key=label)
    m = result.metrics
    for step in ("preprocess", "graph", "train", "domains", "umap"):
        steps[step] = {"s": m["timings_s"][step], "peak_mb": m["peak_memory_mb"][step]}
    t = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=RESULTS) as out:
        write_outputs(result, out, overwrite=True)
        out_mb = sum(f.stat().st_size for f in Path(out).iterdir()) / 2**20
    steps["write"] = {"s": round(time.perf_counter() - t, 2), "peak_mb": peak_memory_mb()}
    params = result.adata.uns["X_spatial_vae"]["params"]
    # the same mixture model on the raw embedding mu, to show what the smoothing step adds on noisy bins
    from spatial_vae.domains import find_domains
    from spatial_vae.evaluation import score_domains
    find_domains(result.adata, use_rep="X_spatial_vae", n_domains=n_domains, seed=seed, key_added="raw_mu")
    ari_raw = score_domains(result.adata, label, "raw_mu")["ari"]
    return {"method": "spatial_vae", "n_spots": int(adata.n_obs), "pooled": adata.uns.get("spatial_vae_pooled"), "section": str(n) if realistic else "synthetic_hd", "seed": seed, "steps": steps,
            "median_umis": float(np.median(np.asarray(result.adata.layers["counts"].sum(1)).ravel())),
            "ensemble": m["settings"]["training"]["ensemble"], "version": version,
            "pipeline_s": round(sum(v["s"] for k, v in steps.items() if k != "generate"), 1),
            "peak_mb": max(v["peak_mb"] for v in steps.values()), "ari": m["ari"], "nmi": m["nmi"], "ari_unsmoothed_mu": ari_raw,
            "normalization": m["normalization"],
            "n_genes": int(adata.n_vars), "nnz_per_spot": round(adata.layers["counts"].nnz / adata.n_obs, 1),
            "epochs": params["epochs"], "batch_size": params["batch_size"], "graph": m["graph"],
            "output_mb": round(out_mb, 1), "cpus": os.cpu_count(), "python": platform.python_version(),
            "torch_threads": m["settings"]["training"]["num_threads"]}


def _version() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE).stdout.strip()


def _key(r: dict) -> str:
    return r.get("section", "synthetic_hd") if r.get("section", "synthetic_hd") != "synthetic_hd" else str(r["n_spots"])


def measure_missing(sizes, seed: int, version: str | None = None) -> None:
    "Each size (or realistic section) not yet measured at `version` (default: any version), one child process each."
    done = {_key(r) for r in read_jsonl(OURS) if version is None or r.get("version") == version}
    for n in map(str, sizes):
        if n in done: print(f"{n}: done already"); continue
        print(f"{n}: running ...", flush=True)
        proc = subprocess.run([sys.executable, __file__, "--one", n, "--seed", str(seed)], capture_output=True, text=True)
        line = proc.stdout.strip().splitlines()[-1] if proc.returncode == 0 and proc.stdout.strip() else None
        if line is None:
            print(f"{n} failed:\n{proc.stderr[-3000:]}"); continue
        with OURS.open("a") as f: f.write(line + "\n")
        r = json.loads(line)
        print(f"{n}: {r['n_spots']:,} bins, pipeline {r['pipeline_s']} s, peak {r['peak_mb']:.0f} MB, ARI {r['ari']:.3f} "
              f"(unsmoothed mu {r['ari_unsmoothed_mu']:.3f})")


def peer_section(name: str, seed: int = 0) -> Path:
    """The file a peer reads for `name`: the synthetic 10^4-bin section (written here), a realistic section's 8 µm bins
    (bench/hd_sections.py), or with a `_sq48` suffix its 48 µm squares, written here as `load_section` makes them for
    spatial_vae, so both methods see the same units."""
    if name.isdigit():
        from spatial_vae.data import synthetic_hd
        path = DATA / f"synthetic_hd_{name}.h5ad"
        if not path.exists(): DATA.mkdir(parents=True, exist_ok=True); synthetic_hd(int(name), seed=seed).write_h5ad(path)
        return path
    bins, _, square = name.partition("_sq")
    if not (HD_DATA / f"{bins}.h5ad").exists(): raise SystemExit(f"{HD_DATA / bins}.h5ad is missing: build it with bench/hd_sections.py")
    if not square: return HD_DATA / f"{bins}.h5ad"
    path = DATA / f"{name}.h5ad"
    if not path.exists():
        from spatial_vae.data import load_section
        DATA.mkdir(parents=True, exist_ok=True)
        load_section(HD_DATA / f"{bins}.h5ad", bin_size=int(square)).write_h5ad(path)
    return path


def run_peers(sections: list[str], seed: int = 0, memory_gib: float = 16, timeout_s: int = 3600) -> None:
    """BANKSY (and SpaGCN on the synthetic section) in their own venvs, one process each, capped at `memory_gib` of
    address space and `timeout_s`: a run that hits either is recorded as failed with the reason."""
    import resource
    done = {(r["method"], r["section"]) for r in read_jsonl(PEERS)}
    for name in sections:
        path = peer_section(name, seed)
        for method in ("banksy", "spagcn") if name.isdigit() else ("banksy",):
            python = PEER_VENVS / method / "bin" / "python"
            if (method, path.stem) in done: print(f"{method} on {path.stem}: done already"); continue
            if not python.exists(): print(f"{method}: no venv at {python} (bench/peers/setup_envs.sh)"); continue
            print(f"{method} on {path.stem} ...", flush=True)
            cap = int(memory_gib * 2**30)
            t0 = time.perf_counter()
            try:
                proc = subprocess.run([str(python), str(HERE / "peers" / f"run_{method}.py"), "--section", path.stem,
                                       "--seed", str(seed), "--out", str(PEERS), "--labels-dir", str(RESULTS / "labels")],
                                      timeout=timeout_s, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (cap, cap)))
                why = None if proc.returncode == 0 else f"exit {proc.returncode} under a {memory_gib:g} GiB address-space cap"
            except subprocess.TimeoutExpired:
                why = f"did not finish in {timeout_s} s"
            if why is not None and (method, path.stem) not in {(r["method"], r["section"]) for r in read_jsonl(PEERS)}:
                with PEERS.open("a") as f:   # the peer's own script writes no line when it is killed
                    f.write(json.dumps({"method": method, "section": path.stem, "seed": seed, "status": "failed", "ari": None,
                                        "wall_s": round(time.perf_counter() - t0, 1), "peak_mem_mb": None, "notes": why}) + "\n")


def realistic_table(rows: list[dict]) -> list[str]:
    "Rows of the realistic sections (bench/hd_sections.py): real layer labels, HD sparsity."
    if not rows: return []
    lines = ["", "## Realistic Visium HD-like sections: real DLPFC counts thinned onto square bins, real layer labels", "",
             "Built by `bench/hd_sections.py` (each spot's 100 µm cell tiled with bins, counts thinned at bin area / spot "
             "area). Same pipeline call as above (defaults, 7 domains, one process per section), measured on 2026-12-01 with "
             "other jobs on the machine, so times are upper bounds. Above 20,000 spots the default trains one model (no "
             "ensemble vote) in minibatches. For scale: the same section's 3,639 Visium spots score ARI 0.631 with the "
             "default (seed 0). On the bins themselves the model did not learn the layers: ARI 0.10-0.13, and the raw "
             "embedding 0.04-0.12. Since 2026-12-01 (settings.ini bin_size = 48) a section's bins are summed into 48 µm "
             "squares before the analysis (data.pool_bins; bench/hd_diagnosis.py measured the choice).", "",
             "| section | bins | analysed as | median UMIs per unit | " + " | ".join(f"{s} s" for s in STEPS[1:])
             + " | pipeline s | peak MB | ARI | ARI without smoothing | normalization | epochs x batch | version |",
             "|" + "---|" * (len(STEPS) + 10)]
    for r in rows:
        pooled = r.get("pooled")
        unit = f"{pooled['squares']:,} squares of {pooled['square_um']:g} µm" if pooled else "the bins"
        lines.append(f"| {r['section']} | {pooled['bins'] if pooled else r['n_spots']:,} | {unit} | {r['median_umis']:.0f} | "
                     + " | ".join(f"{r['steps'][s]['s']:.1f}" for s in STEPS[1:])
                     + f" | {r['pipeline_s']:.0f} | {r['peak_mb']:.0f} | {r['ari']:.3f} | {r['ari_unsmoothed_mu']:.3f} | {r['normalization']}"
                     f" | {r['epochs']} x {r['batch_size'] or 'full'} | {r.get('version', '')} |")
    return lines


def table() -> str:
    every = read_jsonl(OURS)
    realistic = [r for r in every if r.get("section", "synthetic_hd") != "synthetic_hd"]
    rows = sorted([r for r in every if r not in realistic], key=lambda r: r["n_spots"])
    head = ("| spots | " + " | ".join(f"{s} s" for s in STEPS)
            + " | pipeline s | peak MB | ARI | ARI without smoothing | normalization | epochs x batch | version |")
    lines = ["# Scaling: synthetic Visium HD-like sections, one run per size", "",
             "Wall seconds per step and the process's peak resident memory; `pipeline` is everything after generating "
             "the data (preprocess → write outputs). Defaults of settings.ini at each row's version (rows without one: 2026-11-26, one mixture fit per model and full-batch training; b5ce284: the lean default of 2026-12-01, 300 optimiser steps, four torch mixture fits per model) with the true number of domains (7). Measured on a "
             "2-core, 24 GiB machine that was running other benchmark jobs at the same time, so times are upper bounds. "
             "`ARI without smoothing` clusters the raw embedding mu with the same mixture model.", "",
             head, "|" + "---|" * (len(STEPS) + 8)]
    for r in rows:
        lines.append(f"| {r['n_spots']:,} | " + " | ".join(f"{r['steps'][s]['s']:.1f}" for s in STEPS)
                     + f" | {r['pipeline_s']:.0f} | {r['peak_mb']:.0f} | {r['ari']:.3f} | {r['ari_unsmoothed_mu']:.3f} | {r['normalization']}"
                     f" | {r['epochs']} x {r['batch_size'] or 'full'} | {r.get('version', '')} |")
    lines += realistic_table(realistic)
    peers = read_jsonl(PEERS)
    if peers:
        lines += ["", "## Peers on the same sections", "",
                  "Own venvs, one thread, their recommended settings, one process per run capped at "
                  "16 GiB of address space (`--peers`); wall = whole process. On a realistic section BANKSY reads the "
                  "same 48 µm squares that spatial_vae analyses (`<section>_sq48`), or the 8 µm bins themselves; ARI "
                  "against the squares' (or bins') majority layer.", "",
                  "| method | section | units | status | wall s | peak MB | ARI | note |", "|---|---|---|---|---|---|---|---|"]
        ours = {r["n_spots"]: r for r in rows}
        if PEER_SIZE in ours:
            o = ours[PEER_SIZE]
            lines.append(f"| spatial_vae | synthetic_hd | {PEER_SIZE:,} bins | ok | {o['pipeline_s'] + o['steps']['generate']['s']:.0f} | "
                         f"{o['peak_mb']:.0f} | {o['ari']:.3f} | defaults |")
        for r in realistic:
            if r.get("pooled"):
                lines.append(f"| spatial_vae | {r['section']} | {r['pooled']['squares']:,} squares of {r['pooled']['square_um']:g} µm | ok | "
                             f"{r['pipeline_s']:.0f} | {r['peak_mb']:.0f} | {r['ari']:.3f} | defaults, version {r.get('version', '')} |")
        for p in peers:
            section = p["section"]
            if section.startswith("synthetic_hd_"): where, units = "synthetic_hd", f"{int(section.rsplit('_', 1)[1]):,} bins"
            else:
                bins, _, square = section.partition("_sq")
                where, units = bins, (f"squares of {square} µm" if square else "8 µm bins")
            ari = "" if p.get("ari") is None else f"{p['ari']:.3f}"
            note = ((p.get("notes") or "").strip().splitlines() or [""])[-1][:110] if p["status"] != "ok" else "recommended settings"
            lines.append(f"| {p['method']} | {where} | {units} | {p['status']} | {p.get('wall_s') or ''} | "
                         f"{round(p.get('peak_mem_mb') or 0) or ''} | {ari} | {note} |")
    return "\n".join(lines) + "\n"


def plot(path: Path) -> None:
    import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
    rows = sorted([r for r in read_jsonl(OURS) if r.get("section", "synthetic_hd") == "synthetic_hd"], key=lambda r: r["n_spots"])
    n = [r["n_spots"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for s in STEPS: a.plot(n, [max(r["steps"][s]["s"], 0.01) for r in rows], "o-", label=s)
    a.plot(n, [r["pipeline_s"] for r in rows], "k^-", lw=2, label="pipeline total")
    ref = [n[0], n[-1]]; a.plot(ref, [rows[0]["pipeline_s"], rows[0]["pipeline_s"] * n[-1] / n[0]], "k:", label="linear")
    b.plot(n, [r["peak_mb"] / 1024 for r in rows], "ko-", label="spatial_vae peak")
    for p in read_jsonl(PEERS):
        if p.get("wall_s") and p["section"].startswith("synthetic_hd_") and p.get("peak_mem_mb"):
            m = int(p["section"].rsplit("_", 1)[1])
            a.plot([m], [p["wall_s"]], "x", ms=10, mew=2, label=f"{p['method']} (whole run)")
            b.plot([m], [p["peak_mem_mb"] / 1024], "x", ms=10, mew=2, label=p["method"])
    for ax, label in ((a, "wall time (s)"), (b, "peak memory (GiB)")):
        ax.set_xscale("log"); ax.set_yscale("log"); ax.set_xlabel("spots (bins)"); ax.set_ylabel(label); ax.grid(alpha=0.3, which="both")
    a.legend(fontsize=7, ncol=2); b.legend(fontsize=7)
    fig.suptitle(f"spatial_vae on synthetic Visium HD sections ({os.cpu_count()} CPU cores)"); fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="+", default=list(map(str, SIZES)),
                   help="synthetic bin counts, or realistic sections of bench/results/hd_data (e.g. DLPFC_151673_hd008um)")
    p.add_argument("--version", help="measure again the sizes not yet measured at this git version (e.g. the current HEAD)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--one", help=argparse.SUPPRESS)       # child process: one size, JSON to stdout
    p.add_argument("--peers", nargs="*", help="run peers on these sections (none named: the synthetic 10^4 bins); a realistic "
                   "section's name gives its 8 µm bins, with _sq48 its 48 µm squares")
    p.add_argument("--peer-memory-gib", type=float, default=16, help="address-space cap of a peer's process")
    p.add_argument("--peer-timeout-s", type=int, default=3600)
    p.add_argument("--table", action="store_true")
    p.add_argument("--plot", action="store_true")
    a = p.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if a.one:
        print(json.dumps(run_size(a.one, a.seed))); return
    if a.peers is not None: run_peers(a.peers or [str(PEER_SIZE)], a.seed, a.peer_memory_gib, a.peer_timeout_s)
    if not (a.table or a.plot or a.peers is not None): measure_missing(a.sizes, a.seed, a.version)
    if a.table:
        text = table(); print(text)
        (HERE / "scaling.md").write_text(text)
        (RESULTS / "scaling_summary.json").write_text(json.dumps({"spatial_vae": read_jsonl(OURS), "peers": read_jsonl(PEERS)}, indent=1))
    if a.plot: plot(HERE / "scaling.png"); print(f"wrote {HERE / 'scaling.png'}")


if __name__ == "__main__":
    main()
