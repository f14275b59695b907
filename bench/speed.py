"""spatial_vae's default against BANKSY, one after the other in this script, on the same machine: the ratio of wall times.

Each run is a fresh process with one thread (OMP/MKL/OpenBLAS/NumExpr/Numba threads = 1), timed from start to exit,
imports included, as a user meets it:
- spatial_vae: `spatial-vae run --data <section> --n-domains K --label-key L --out <tmp> --quiet`, the default
  from reading to written outputs (domain map, UMAP, loss curves, .h5ad, model, metrics);
- BANKSY: bench/peers/run_banksy.py (pybanksy 1.3.5, its DLPFC tutorial settings: lambda 0.2, k_geom 18, PCA 20,
  Leiden with the resolution searched for K clusters), in its own venv (bench/peers/setup_envs.sh banksy).
The two alternate (ours, BANKSY, ours, BANKSY, ...) so that a slow spell of the machine hits both. Each pair is
appended to bench/results/speed.jsonl; `--table` writes bench/speed.md from all recorded pairs (median ratio).
`--floor` times, in place of the default, the same command with one model and one optimiser step: every stage
but training (imports, preprocessing, graph, clustering, UMAP, the written outputs), the least any spatial_vae
run of the section can cost on this machine.

    uv run python bench/speed.py --repeats 3            # DLPFC 151673 and STARmap BZ5
    uv run python bench/speed.py --floor --repeats 2    # the same pairs with spatial_vae's training cut to one step
    uv run python bench/speed.py --table
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "speed.jsonl"
# what a version's default was, where the commit alone does not say (the machine differed between sessions too)
VERSION_NOTES = {
    "f0a66f8": "hidden 128,64, latent 32 (the default), measured on 2026-11-30",
    "18dbb2c": "hidden 64,32, latent 16: the default for one commit on 2026-12-01, reverted in the next after its 10-seed "
               "runs (CHANGELOG.md); measured on 2026-12-01, a machine about 1.6x slower than 2026-11-30's (bench/profile.md)",
    "759a31a": "the lean default (300 steps of ~512-spot minibatches, torch mixture, cached UMAP kernels), measured on "
               "2026-12-01 while one benchmark process (bench/run.py, one thread) ran beside the pairs",
    "f0196a0": "the lean default with full batches up to 2,048 spots (STARmap), measured on 2026-12-01, idle machine",
    "de9419a": "the same default run as f0196a0 (the evening's commits changed no step of it: labels, embedding and UMAP "
               "byte-identical on 151673 and the built-in section), measured on 2026-12-01 evening, idle machine",
    "3339870": "a vote over 3 models on sections trained in minibatches (151673; STARmap keeps 5, its run unchanged from "
               "de9419a), measured on 2026-12-01 night, idle machine; this hour's machine was slower (BANKSY 23.7 s against 19.2 s, "
               "the same STARmap run 33.8 s against 25.3 s)",
    "8b7af1c": "3 models on 151673 and the PCA in float32 (both sections), measured on 2026-12-01 night, idle machine",
    "701b7f8": "the same runs as 8b7af1c (labels identical) without importing torch._dynamo (training.Adam; deterministic "
               "kernels only where they change results), measured on 2026-12-01 night, idle machine",
    "6dcd236": "the same runs as 701b7f8 (labels identical) with the graph and the tissue maps drawn without squidpy (its import "
               "and its per-spot patches: ~1-2.5 s); `floor`: one model, one optimiser step; measured on 2026-12-02, idle "
               "machine, slower this hour (the same STARmap training 11.7-13.4 s against 10.6-11.7 s)",
}
SECTIONS = {  # name: (file under the shared data folder, label column, domains)
    "DLPFC_151673": ("DLPFC_151673/DLPFC_151673.h5ad", "layer_guess_reordered", 7),
    "STARmap_mPFC_BZ5": ("STARmap_mPFC_BZ5/starmap_mpfc_20180417_BZ5_control.h5ad", "layer", 4),
}
ONE_THREAD = {v: "1" for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                                "VECLIB_MAXIMUM_THREADS", "NUMBA_NUM_THREADS")}


def timed(cmd: list[str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **ONE_THREAD}, **kw)
    return time.perf_counter() - t, proc


FLOOR = ["--ensemble", "1", "--max-steps", "1"]   # one model, one optimiser step: every stage but training


def ours(section: str, data: Path, extra: list[str] = ()) -> dict:
    file, label_key, k = SECTIONS[section]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        wall, proc = timed([str(Path(sys.executable).parent / "spatial-vae"), "run", "--data", str(data / file), "--n-domains", str(k),
                            "--label-key", label_key, "--out", str(out), "--quiet", *extra])
        if proc.returncode: raise RuntimeError(f"spatial-vae run failed on {section}:\n{proc.stderr[-3000:]}")
        metrics = json.loads((out / "metrics.json").read_text())
    return {"wall_s": round(wall, 2), "ari": metrics.get("ari"), "stages_s": metrics.get("timings_s")}


def banksy(section: str, python: Path, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "banksy.jsonl"
        wall, proc = timed([str(python), str(HERE / "peers" / "run_banksy.py"), "--section", section, "--seed", str(seed),
                            "--out", str(record), "--labels-dir", tmp])
        if proc.returncode or not record.exists(): raise RuntimeError(f"BANKSY failed on {section}:\n{proc.stderr[-3000:]}")
        r = json.loads(record.read_text().splitlines()[-1])
    return {"wall_s": round(wall, 2), "ari": r.get("ari"), "fit_s": r.get("fit_s")}


def table() -> str:
    import pandas as pd
    df = pd.DataFrame([json.loads(l) for l in RESULTS.read_text().splitlines() if l.strip()])
    df["ratio"] = df["ours_wall_s"] / df["banksy_wall_s"]
    df["run"] = df["variant"].fillna("default") if "variant" in df else "default"
    g = df.groupby(["section", "version", "run"], sort=False)   # a version's pairs only: defaults change between versions
    summary = pd.DataFrame({"pairs": g.size(), "spatial_vae wall s (median)": g.ours_wall_s.median(),
                            "BANKSY wall s (median)": g.banksy_wall_s.median(), "ratio (median)": g.ratio.median(),
                            "ratio (max)": g.ratio.max(), "spatial_vae ARI": g.ours_ari.mean(), "BANKSY ARI": g.banksy_ari.mean()}).round(3)
    flat = summary.reset_index()
    lines = ["| " + " | ".join(flat.columns) + " |", "|" + "---|" * len(flat.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in flat.itertuples(index=False)]
    pairs = ["| section | pair | spatial_vae s | BANKSY s | ratio | version | run |", "|---|---|---|---|---|---|---|"]
    pairs += [f"| {r.section} | {r.pair} | {r.ours_wall_s} | {r.banksy_wall_s} | {r.ratio:.2f} | {r.version} | {r.run} |"
              for r in df.itertuples()]
    text = ("# Speed: spatial_vae's default against BANKSY, same script, same machine\n\n" + __doc__.split("\n\n")[1] + "\n\n"
            "Ratio = spatial_vae wall / BANKSY wall for a pair run back to back (below 1: spatial_vae is faster). Run `floor`: "
            "spatial_vae with one model and one optimiser step (`--floor`), every stage but training. "
            "ARI against the annotation (spatial_vae: the run's metrics.json; BANKSY: raw Leiden labels).\n\n"
            + "\n".join(lines) + "\n\nEvery pair:\n\n" + "\n".join(pairs) + "\n\n"
            + "".join(f"- `{v}`: {note}\n" for v, note in VERSION_NOTES.items() if v in set(df["version"])))
    (HERE / "speed.md").write_text(text)
    return text


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sections", nargs="*", default=list(SECTIONS))
    p.add_argument("--repeats", type=int, default=3, help="pairs per section")
    p.add_argument("--banksy-python", type=Path, default=Path(os.environ.get("PEER_VENVS", "/work/peer_venvs")) / "banksy" / "bin" / "python")
    p.add_argument("--floor", action="store_true", help="time spatial_vae with one model and one optimiser step (every stage but training)")
    p.add_argument("--table", action="store_true")
    a = p.parse_args()
    if not a.table:
        sys.path.insert(0, str(HERE.parent))
        from spatial_vae.data import shared_data_dir
        from importlib.metadata import version
        data = shared_data_dir()
        if not a.banksy_python.exists(): sys.exit(f"no BANKSY venv at {a.banksy_python}: run bash bench/peers/setup_envs.sh banksy")
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE).stdout.strip()
        for section in a.sections:
            for pair in range(a.repeats):
                o, b = ours(section, data, FLOOR if a.floor else []), banksy(section, a.banksy_python, pair)
                row = {"section": section, "pair": pair, "ours_wall_s": o["wall_s"], "banksy_wall_s": b["wall_s"],
                       "ours_ari": o["ari"], "banksy_ari": b["ari"], "ours_stages_s": o["stages_s"], "banksy_fit_s": b["fit_s"],
                       "version": commit, "variant": "floor" if a.floor else "default",
                       "when": datetime.now(timezone.utc).isoformat(timespec="seconds")}
                RESULTS.parent.mkdir(parents=True, exist_ok=True)
                with open(RESULTS, "a") as f: f.write(json.dumps(row) + "\n")
                print(f"{section} pair {pair}: spatial_vae {o['wall_s']:.1f} s (ARI {o['ari']:.3f}), BANKSY {b['wall_s']:.1f} s "
                      f"(ARI {b['ari']:.3f}): ratio {o['wall_s'] / b['wall_s']:.2f}", flush=True)
    print(table())
