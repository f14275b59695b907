#!/usr/bin/env python3
"""Summarise bench/results/peers.jsonl: mean / median / std of ARI and NMI, wall time and peak
memory per (method, section), over the 'ok' runs (latest line per (method, section, seed) wins).
Stdlib only.   python3 bench/peers/summarize.py [--jsonl PATH] [--markdown]"""
import argparse
import json
import statistics as st
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT = HERE.parent / "results" / "peers.jsonl"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jsonl", default=str(DEFAULT))
    a = ap.parse_args()
    latest = {}
    for line in Path(a.jsonl).read_text().splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        latest[(r["method"], r["section"], r["seed"])] = r
    groups = defaultdict(list)
    other = defaultdict(list)
    for (m, s, seed), r in sorted(latest.items()):
        (groups if r.get("status") == "ok" else other)[(m, s)].append(r)

    def f(xs, fn):
        xs = [x for x in xs if x is not None]
        if not xs:
            return "-"
        if fn == "std":
            return f"{st.stdev(xs):.3f}" if len(xs) > 1 else "-"
        return f"{getattr(st, fn)(xs):.3f}"

    hdr = ("| method | section | n ok | ARI mean | ARI median | ARI std | NMI mean | NMI median | NMI std "
           "| wall s (median) | peak MB (median) | refinement | extra |")
    print(hdr)
    print("|" + "|".join(["---"] * (hdr.count("|") - 1)) + "|")
    for (m, s), rs in sorted(groups.items()):
        ari = [r["ari"] for r in rs]
        nmi = [r["nmi"] for r in rs]
        extra = ""
        for key in ("ari_refined", "ari_unrefined"):
            xs = [r.get(key) for r in rs if r.get(key) is not None]
            if xs:
                extra = f"{key} mean {st.mean(xs):.3f}"
        ref = sorted({str(r.get("refinement")) for r in rs})
        print(f"| {m} | {s} | {len(rs)} | {f(ari,'mean')} | {f(ari,'median')} | {f(ari,'std')} | "
              f"{f(nmi,'mean')} | {f(nmi,'median')} | {f(nmi,'std')} | "
              f"{f([r['wall_s'] for r in rs],'median')} | {f([r['peak_mem_mb'] for r in rs],'median')} | "
              f"{'/'.join(ref)} | {extra} |")
    for (m, s), rs in sorted(other.items()):
        for r in rs:
            print(f"# {r['status']}: {m} {s} seed {r['seed']}: {str(r.get('notes'))[:200]}")


if __name__ == "__main__":
    main()
