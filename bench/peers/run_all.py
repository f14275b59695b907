#!/usr/bin/env python3
"""Run the peer benchmark, resumably.  Stdlib only: run it with any python3.

    python3 bench/peers/run_all.py                         # banksy then spagcn, 3 sections x seeds 0-9
    python3 bench/peers/run_all.py --methods banksy --seeds 0-9
    python3 bench/peers/run_all.py --methods graphst stagate --sections DLPFC_151673 --seeds 0

Each (method, section, seed) run is its own subprocess in the method's own venv
(/work/peer_venvs/<venv>/bin/python, override the root with $PEER_VENVS), limited to one
core (OMP/MKL/OPENBLAS/NUMBA threads = 1, torch.set_num_threads(1) in the scripts).
The run script appends one JSON line to bench/results/peers.jsonl; if it dies without
doing so (crash, OOM, timeout) this driver appends a 'failed' line itself, with the peak
RSS of that child taken from os.wait4.

Resume: runs whose (method, section, seed) already has a line with status 'ok' or
'not_applicable' are skipped; so are 'failed' ones unless --retry-failed is given.
Logs (stdout/stderr of each run): bench/results/peer_logs/<method>_<section>_seed<k>.log
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RESULTS = REPO / "bench" / "results"
DEFAULT_OUT = RESULTS / "peers.jsonl"
LOGS = RESULTS / "peer_logs"
VENVS = Path(os.environ.get("PEER_VENVS", "/work/peer_venvs"))

# method -> (venv name, script, per-run timeout seconds[, extra script args])
METHODS = {
    "banksy": ("banksy", "run_banksy.py", 1800),
    "spagcn": ("spagcn", "run_spagcn.py", 3600),
    "graphst": ("graphst", "run_graphst.py", 5400),
    "stagate": ("stagate", "run_stagate.py", 5400),
    # optional variant: Banksy's suggested lambda for domain segmentation (not run by default)
    "banksy_lam0.8": ("banksy", "run_banksy.py", 1800, ["--lambda", "0.8", "--method-name", "banksy_lam0.8"]),
}
SECTIONS = ["DLPFC_151673", "DLPFC_151674", "BRCA_V1_Block_A_Section_1"]
# development data added 2026-11-30 (run when named with --sections)
MORE_SECTIONS = ["STARmap_mPFC_BZ5"] + [f"DLPFC_{s}_pca" for s in (151507, 151508, 151509, 151510)]
ONE_CORE = {k: "1" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                             "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMBA_NUM_THREADS")}


def parse_seeds(spec: list[str]) -> list[int]:
    out = []
    for s in spec:
        for part in s.split(","):
            if "-" in part:
                a, b = part.split("-")
                out.extend(range(int(a), int(b) + 1))
            elif part:
                out.append(int(part))
    return out


def done_keys(out: Path, retry_failed: bool) -> set:
    keys = set()
    if not out.exists():
        return keys
    for line in out.read_text().splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        if r.get("status") in ("ok", "not_applicable") or (r.get("status") == "failed" and not retry_failed):
            keys.add((r.get("method"), r.get("section"), int(r.get("seed", -1))))
    return keys


def count_lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def run_one(method, section, seed, out: Path, timeout: int | None, dry: bool) -> None:
    venv, script, default_timeout, *rest = METHODS[method]
    py = VENVS / venv / "bin" / "python"
    cmd = [str(py), str(HERE / script), "--section", section, "--seed", str(seed), "--out", str(out)]
    cmd += rest[0] if rest else []
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{method}_{section}_seed{seed}.log"
    print(f"[{time.strftime('%H:%M:%S')}] {method} {section} seed={seed}", flush=True)
    if dry:
        print("   ", " ".join(cmd))
        return
    env = dict(os.environ, **ONE_CORE, PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
    n_before = count_lines(out)
    t0 = time.time()
    limit = timeout or default_timeout
    with open(log, "w") as lf:
        if not py.exists():
            rc, rss_mb, why = -1, 0.0, f"venv python missing: {py} (run bench/peers/setup_envs.sh)"
        else:
            p = subprocess.Popen(cmd, stdout=lf, stderr=subprocess.STDOUT, cwd=str(HERE), env=env,
                                 start_new_session=True)
            why = ""
            # poll wait4 so that we get this child's own rusage (ru_maxrss)
            while True:
                pid, status, ru = os.wait4(p.pid, os.WNOHANG)
                if pid == p.pid:
                    break
                if time.time() - t0 > limit:
                    os.killpg(p.pid, signal.SIGKILL)
                    pid, status, ru = os.wait4(p.pid, 0)
                    why = f"timeout after {limit}s"
                    break
                time.sleep(0.5)
            p.returncode = os.waitstatus_to_exitcode(status)
            rc = p.returncode
            rss_mb = ru.ru_maxrss / 1024.0
    wall = time.time() - t0
    if count_lines(out) > n_before:
        last = json.loads(out.read_text().splitlines()[-1])
        print(f"    -> {last.get('status')} ari={last.get('ari')} nmi={last.get('nmi')} "
              f"wall={last.get('wall_s')}s mem={last.get('peak_mem_mb')}MB (driver: rc={rc}, "
              f"{wall:.1f}s, child maxrss {rss_mb:.0f}MB)", flush=True)
        return
    tail = log.read_text()[-1500:] if log.exists() else ""
    rec = {"method": method, "section": section, "seed": seed, "ari": None, "nmi": None,
           "n_domains": {"BRCA_V1_Block_A_Section_1": 20}.get(section, 7),
           "wall_s": round(wall, 3), "peak_mem_mb": round(rss_mb, 1), "refinement": None,
           "status": "failed", "notes": f"run died without writing a result (rc={rc}) {why}; "
                                        f"log tail: {tail}", "versions": {}}
    with open(out, "a") as f:
        f.write(json.dumps(rec) + "\n")
    print(f"    -> FAILED rc={rc} {why} (see {log})", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", nargs="+", default=["banksy", "spagcn"], choices=sorted(METHODS))
    ap.add_argument("--sections", nargs="+", default=SECTIONS, choices=SECTIONS + MORE_SECTIONS)
    ap.add_argument("--seeds", nargs="+", default=["0-9"], help="e.g. 0-9 or 0,1,2")
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--timeout", type=int, default=None, help="per-run timeout (s)")
    ap.add_argument("--retry-failed", action="store_true")
    ap.add_argument("--dry-run", action="store_true")
    a = ap.parse_args()
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    seeds = parse_seeds(a.seeds)
    for method in a.methods:          # method-major: all of banksy before spagcn
        for section in a.sections:
            for seed in seeds:
                if (method, section, seed) in done_keys(out, a.retry_failed):
                    continue
                run_one(method, section, seed, out, a.timeout, a.dry_run)
    print(f"[{time.strftime('%H:%M:%S')}] all requested runs done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
