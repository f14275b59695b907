"""Exploratory: which training settings give steadier, better domains? One settings change at a time.

For each preset (overrides of settings.ini), trains --models models per section (model seeds 0..models-1, one
preprocessing), clusters each as the pipeline did then (2-hop smoothing, tied GMM with two spare components merged
back; the presets pin that) and scores the vote over every group of 5 models, refined, as the default pipeline would give. A much
smaller comparison than bench/run.py (6 models give 6 overlapping groups), used to pick candidates, which the
benchmark then measures. Every preset's models and fits are cached under --work/<preset>, with the settings they
were trained with; a cache trained under other settings is refused. Prints a table and writes
bench/results/explore_training.json. This is how `learning_rate = 0.002` was chosen.

    uv run python bench/explore_training.py --presets lr1e3 lr2e3 --sections DLPFC_151674
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from explore_merge import Section, train_models  # noqa: E402
from run import EXTRA2, LR1E3, SECTIONS  # noqa: E402

PRESETS = {name: overrides | EXTRA2 for name, overrides in {   # single changes from LR1E3, the default before this comparison
    "lr1e3": LR1E3,
    "lr2e3": {"learning_rate": 0.002},
    "lr3e3": {"learning_rate": 0.003},
    "lr1e3_epochs600": LR1E3 | {"epochs": 600},
    "lr1e3_lambda8": LR1E3 | {"lambda_spatial": 8.0},
    "lr1e3_lambda50": LR1E3 | {"lambda_spatial": 50.0},
    "lr1e3_epochs600_lambda50": LR1E3 | {"epochs": 600, "lambda_spatial": 50.0},
    "lr1e3_beta0.01": LR1E3 | {"beta": 0.01},
    "lr1e3_pcs30": LR1E3 | {"n_pcs": 30},
    "lr1e3_hvg2000": LR1E3 | {"n_top_genes": 2000},
    "lr1e3_latent64": LR1E3 | {"latent_dim": 64},
}.items()}   # all measured with two spare components, the default then: pinned, so a rerun reproduces them


def checked_work_dir(work: Path, preset: str) -> Path:
    "The preset's cache folder, refusing one whose models were trained under other settings."
    from spatial_vae.pipeline import merged_settings
    settings = json.loads(json.dumps(merged_settings(PRESETS[preset]), default=str))
    folder = work / preset
    folder.mkdir(parents=True, exist_ok=True)
    saved = folder / "settings.json"
    if saved.exists() and json.loads(saved.read_text()) != settings:
        raise SystemExit(f"{folder} was trained under other settings (settings.ini changed?): clear it or pick another --work")
    saved.write_text(json.dumps(settings, indent=1))
    return folder


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", nargs="*", default=list(PRESETS), choices=list(PRESETS))
    p.add_argument("--sections", nargs="*", default=list(SECTIONS), choices=list(SECTIONS))
    p.add_argument("--models", type=int, default=6, help="models trained per section and preset (seeds 0..models-1)")
    p.add_argument("--work", type=Path, default=Path.home() / ".cache" / "spatial_vae_explore_training")
    a = p.parse_args()
    if a.models < 5: p.error(f"--models must be >= 5 (groups of 5 models), got {a.models}")
    from spatial_vae.pipeline import merged_settings, spare_counts_from_settings
    out = HERE / "results" / "explore_training.json"
    results = json.loads(out.read_text()) if out.exists() else {}
    print("| preset | section | vote of 5: mean ARI | sd | min | single model: mean ARI | sd |\n|---|---|---|---|---|---|---|")
    for preset in a.presets:
        work = checked_work_dir(a.work, preset)
        e = merged_settings(PRESETS[preset])["evaluation"]
        for section in a.sections:
            train_models(section, a.models, work, PRESETS[preset])
            n_domains = pd.read_csv(work / f"{section}_labels.csv", index_col=0).iloc[:, 0].nunique()
            S = Section(section, n_domains, work, a.models, e["smoothing_hops"], e["refine_hops"])
            extras = spare_counts_from_settings(merged_settings(PRESETS[preset] | {"n_domains": n_domains}))   # several: all vote
            groups = [list(g) for g in itertools.combinations(range(a.models), 5)]
            votes = [S.ari(S.voted(g, extras)) for g in groups]
            single = [S.ari(S.voted([m], extras)) for m in range(a.models)]
            results.setdefault(preset, {})[section] = {"overrides": PRESETS[preset], "models": a.models, "groups": groups,
                                                       "vote_ari": votes, "single_ari": single}
            v, s1 = np.array(votes), np.array(single)
            print(f"| {preset} | {section} | {v.mean():.3f} | {v.std(ddof=1):.3f} | {v.min():.3f} | {s1.mean():.3f} | {s1.std(ddof=1):.3f} |",
                  flush=True)
            tmp = out.with_suffix(".tmp"); tmp.write_text(json.dumps(results, indent=1)); tmp.replace(out)


if __name__ == "__main__":
    main()
