"""Exploratory: which spare-component counts should each model be clustered with, and should they grow with the domains?

Trains --models models per section with settings.ini's defaults (explore_merge's `train_models`, model seeds
0..models-1, one preprocessing), clusters each with every spare-component count that a set names (tied GMMs merged
back, as find_domains does; fits cached under --work) and scores, for each set, the refined vote over --groups random
groups of 5 models, as the pipeline would give it. Groups share models, so the spread over groups approximates, not
equals, the spread over independent runs. `auto` is settings.ini's rule (`spare_component_counts`: 0, s, 2s, 3s with
s one per 7 domains). Clear --work after changing settings.ini (the cache does not know them). Prints a table and
writes bench/results/explore_spares.json. This is how `extra_components = auto` replaced 0-3 on every section.

    uv run python bench/explore_spares.py --sets 0,1,2,3 0,2,4,6 0,3,6,9 0,4,8,12 auto
"""
from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from explore_merge import Section, train_models  # noqa: E402
from run import SECTIONS  # noqa: E402


def counts(text: str, n_domains: int) -> tuple[int, ...]:
    "A set of spare-component counts from the command line (`auto` or integers separated by commas), as the pipeline reads it."
    from spatial_vae.cli import auto_or_ints
    from spatial_vae.pipeline import merged_settings, spare_counts_from_settings
    return tuple(spare_counts_from_settings(merged_settings({"extra_components": auto_or_ints(text), "n_domains": n_domains})))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sets", nargs="+", default=["0,1,2,3", "0,2,4,6", "0,3,6,9", "0,4,8,12", "auto"],
                   help="sets of spare-component counts, each voted over: auto or e.g. 0,1,2,3")
    p.add_argument("--sections", nargs="*", default=list(SECTIONS), choices=list(SECTIONS))
    p.add_argument("--models", type=int, default=12, help="models trained per section (seeds 0..models-1)")
    p.add_argument("--groups", type=int, default=24, help="random groups of 5 models scored per set")
    p.add_argument("--work", type=Path, default=Path.home() / ".cache" / "spatial_vae_explore_spares")
    a = p.parse_args()
    if a.models < 5: p.error(f"--models must be >= 5 (groups of 5 models), got {a.models}")
    for text in a.sets:
        try: counts(text, 7)
        except ValueError: p.error(f"--sets: {text!r} is neither auto nor integers separated by commas")
    from threadpoolctl import threadpool_limits
    from spatial_vae.pipeline import merged_settings
    e = merged_settings({})["evaluation"]
    a.work.mkdir(parents=True, exist_ok=True)
    out = HERE / "results" / "explore_spares.json"
    results = json.loads(out.read_text()) if out.exists() else {}
    groups = random.Random(0).sample(list(itertools.combinations(range(a.models), 5)), a.groups)
    print("| section | counts | mean ARI | median | sd | min | max |\n|---|---|---|---|---|---|---|")
    with threadpool_limits(1):   # one core per run, as the benchmark
        for section in a.sections:
            train_models(section, a.models, a.work)
            n_domains = pd.read_csv(a.work / f"{section}_labels.csv", index_col=0).iloc[:, 0].nunique()
            S = Section(section, n_domains, a.work, a.models, e["smoothing_hops"], e["refine_hops"])
            for text in a.sets:
                extras = counts(text, n_domains)
                ari = np.array([S.ari(S.voted(list(g), extras)) for g in groups])
                results.setdefault(section, {})[text] = {"counts": list(extras), "models": a.models,
                                                         "groups": [list(g) for g in groups], "vote_ari": ari.tolist()}
                print(f"| {section} | {text} ({','.join(map(str, extras))}) | {ari.mean():.3f} | {np.median(ari):.3f} | "
                      f"{ari.std(ddof=1):.3f} | {ari.min():.3f} | {ari.max():.3f} |", flush=True)
                tmp = out.with_suffix(".tmp"); tmp.write_text(json.dumps(results, indent=1)); tmp.replace(out)


if __name__ == "__main__":
    main()
