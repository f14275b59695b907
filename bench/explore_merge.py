"""Exploratory: how should spare mixture components be merged, and how steady is each choice over seeds?

Trains N models per section with settings.ini's defaults (one preprocessing, model seeds 0..N-1), saves each
model's embedding, fits tied GMMs with 0-3 spare components per model, and scores clustering strategies on
groups of 5 models (the default ensemble): 6 disjoint groups and --groups random ones, which share models, so
the spread over groups approximates, not equals, the spread over independent runs. Smoothing and refinement hops
come from settings.ini. Everything is cached under --work, so an interrupted run resumes; clear --work after
changing settings.ini (the cache does not know them). Prints a table and writes bench/results/explore_merge.json.
This is how `extra_components = 2` (the default before the vote over 0-3) was chosen. It trains seeds 0..N-1, the seeds of run.py's runs 0..N/5-1, so
those benchmark runs are not independent of the choice; later runs are.

    uv run python bench/explore_merge.py --sections DLPFC_151673 --models 30
"""
from __future__ import annotations

import argparse
import json
import pickle
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import SECTIONS  # noqa: E402


def train_models(section: str, n_models: int, work: Path, overrides: dict | None = None) -> None:
    "Preprocess once, then train models with seeds 0..n_models-1 under settings.ini with `overrides`, saving each embedding (skipped when saved)."
    import anndata as ad
    from spatial_vae.data import preprocess, shared_data_dir
    from spatial_vae.graph import spatial_edges
    from spatial_vae.pipeline import merged_settings, preprocessing_arguments, training_arguments
    from spatial_vae.training import train_spatial_vae
    if all((work / f"{section}_{seed}.npy").exists() for seed in range(n_models)): return
    file, label_key, features_key = SECTIONS[section]
    adata = ad.read_h5ad(shared_data_dir() / file)
    s = merged_settings(overrides or {})
    if features_key is None: preprocess(adata, **preprocessing_arguments(s)); features_key = "X_pca"
    edges = spatial_edges(adata)
    np.save(work / f"{section}_edges.npy", edges)
    adata.obs[[label_key]].to_csv(work / f"{section}_labels.csv")
    kwargs = training_arguments(s)
    for seed in range(n_models):
        path = work / f"{section}_{seed}.npy"
        if path.exists(): continue
        train_spatial_vae(adata, edges, features_key=features_key, progress=False, key_added="z", **(kwargs | {"seed": seed}))
        np.save(path, np.asarray(adata.obsm["z"], dtype=np.float32)); print(f"{section}: model {seed} trained", flush=True)


class Section:
    "One section's saved models, its graph and labels, and each model's mixture fits (fitted when first asked for, cached)."
    def __init__(self, section: str, n_domains: int, work: Path, n_models: int, smoothing_hops: int = 2, refine_hops: int = 2):
        import anndata as ad
        from spatial_vae.domains import smooth_embedding
        self.k, self.edges, self.refine_hops = n_domains, np.load(work / f"{section}_edges.npy"), refine_hops
        labels = pd.read_csv(work / f"{section}_labels.csv", index_col=0).iloc[:, 0]
        self.n, self.scored, self.y = len(labels), labels.notna().to_numpy(), labels.dropna().astype(str).to_numpy()
        self.seeds = list(range(n_models))
        self.z = {}
        for seed in self.seeds:
            z = np.load(work / f"{section}_{seed}.npy")
            if len(z) != self.n: raise ValueError(f"{work / f'{section}_{seed}.npy'} has {len(z)} spots, the section {self.n}: clear --work")
            a = ad.AnnData(obs=pd.DataFrame(index=[str(i) for i in range(self.n)]), obsm={"z": z})
            self.z[seed] = smooth_embedding(a, self.edges, "z", hops=smoothing_hops)
        self.cache = work / f"{section}_fits_torch.pkl"   # fits of fit_tied_mixture (the sklearn-era cache had another name)
        self.fits = pickle.loads(self.cache.read_bytes()) if self.cache.exists() else {}   # more are fitted as asked for

    def fitted(self, seed: int, extra: int) -> tuple:
        "Model `seed`'s tied GMM with `extra` spare components, as find_domains fits it: (labels, means, covariance); cached."
        from spatial_vae.domains import fit_tied_mixture   # the mixture find_domains fits, with its restarts
        if (seed, extra) not in self.fits:
            g = fit_tied_mixture(self.z[seed], self.k + extra, seed=seed, device="cpu")
            self.fits[seed, extra] = (g.labels, g.means, g.covariance)
            self.cache.write_bytes(pickle.dumps(self.fits))
        return self.fits[seed, extra]

    def frame(self, **labelings) -> pd.DataFrame:
        return pd.DataFrame({k: pd.Categorical(v) for k, v in labelings.items()}, index=[str(i) for i in range(self.n)])

    def vote(self, labelings: list[np.ndarray]) -> np.ndarray:
        import anndata as ad
        from spatial_vae.domains import consensus_domains
        a = ad.AnnData(obs=self.frame(**{f"m{i}": l for i, l in enumerate(labelings)}))
        return consensus_domains(a, list(a.obs.columns), key_added="vote").cat.codes.to_numpy()

    def refine(self, labels: np.ndarray) -> np.ndarray:
        import anndata as ad
        from spatial_vae.domains import refine_domains
        a = ad.AnnData(obs=self.frame(d=labels))
        return refine_domains(a, self.edges, "d", hops=self.refine_hops).cat.codes.to_numpy()

    def merged(self, seed: int, extra: int) -> np.ndarray:
        "One model's labels with `extra` spare components merged back (the library's rule)."
        from spatial_vae.domains import merge_closest_components
        labels, means, cov = self.fitted(seed, extra)[:3]
        return merge_closest_components(means, self.k, cov)[labels] if extra else labels

    def voted(self, group: list[int], extras) -> np.ndarray:
        "Refined domains of the vote over `group`'s models, each clustered with every count in `extras`, as the pipeline does (one labelling: no vote)."
        labelings = [self.merged(s, n) for s in group for n in extras]
        return self.refine(labelings[0] if len(labelings) == 1 else self.vote(labelings))

    def ari(self, labels: np.ndarray) -> float:
        "ARI of `labels` (all spots) against the annotation, on the annotated spots."
        from sklearn.metrics import adjusted_rand_score
        return adjusted_rand_score(self.y, labels[self.scored])

    def merged_after_vote(self, group: list[int], extra: int) -> np.ndarray:
        "Alternative: vote on the unmerged labels, then merge the voted clusters by their mean distance over the models."
        from scipy.cluster.hierarchy import fcluster, linkage
        from scipy.spatial.distance import squareform
        from spatial_vae.domains import whiten_means
        voted = self.vote([self.fitted(s, extra)[0] for s in group])
        clusters, dist = np.unique(voted), 0
        for s in group:
            means = np.stack([self.z[s][voted == c].mean(0) for c in clusters])
            white = whiten_means(means, self.fitted(s, extra)[2])   # Mahalanobis, as merge_closest_components
            dist = dist + np.sqrt(((white[:, None] - white[None]) ** 2).sum(-1))
        groups = fcluster(linkage(squareform(dist / len(group), checks=False), "average"), self.k, "maxclust") - 1
        return groups[np.searchsorted(clusters, voted)]


STRATEGIES = {   # name: (description, labels of a 5-model group)
    "no_merge": ("k components per model, vote, refine", lambda S, g: S.refine(S.vote([S.merged(s, 0) for s in g]))),
    "extra1": ("1 spare per model, merged, vote, refine (the default before)", lambda S, g: S.refine(S.vote([S.merged(s, 1) for s in g]))),
    "extra2": ("2 spare per model, merged, vote, refine (the default then)", lambda S, g: S.refine(S.vote([S.merged(s, 2) for s in g]))),
    "extra3": ("3 spare per model, merged, vote, refine", lambda S, g: S.refine(S.vote([S.merged(s, 3) for s in g]))),
    "extra2_no_refinement": ("as extra2, scored before the refinement", lambda S, g: S.vote([S.merged(s, 2) for s in g])),
    "extra1_merge_after_vote": ("1 spare, vote first, merge the voted clusters", lambda S, g: S.refine(S.merged_after_vote(g, 1))),
    "extra2_merge_after_vote": ("2 spare, vote first, merge the voted clusters", lambda S, g: S.refine(S.merged_after_vote(g, 2))),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sections", nargs="*", default=list(SECTIONS))
    p.add_argument("--models", type=int, default=30, help="models trained per section (seeds 0..models-1)")
    p.add_argument("--groups", type=int, default=30, help="random 5-model groups, besides the disjoint ones")
    p.add_argument("--work", type=Path, default=Path.home() / ".cache" / "spatial_vae_explore")
    a = p.parse_args()
    if a.models < 5: p.error(f"--models must be >= 5 (groups of 5 models), got {a.models}")
    from spatial_vae.pipeline import merged_settings
    e = merged_settings({})["evaluation"]
    a.work.mkdir(parents=True, exist_ok=True)
    out = HERE / "results" / "explore_merge.json"
    results = json.loads(out.read_text()) if out.exists() else {}
    for section in a.sections:
        train_models(section, a.models, a.work)
        n_domains = pd.read_csv(a.work / f"{section}_labels.csv", index_col=0).iloc[:, 0].nunique()
        S = Section(section, n_domains, a.work, a.models, e["smoothing_hops"], e["refine_hops"])
        rng = np.random.default_rng(0)
        groups = [S.seeds[i:i + 5] for i in range(0, len(S.seeds) - 4, 5)]
        groups += [sorted(int(s) for s in rng.choice(S.seeds, 5, replace=False)) for _ in range(a.groups)]
        single = [S.ari(S.voted([s], [2])) for s in S.seeds]
        rows = {"single_model_extra2": {"what": "one model, 2 spare merged, refine", "ari": single}}
        for name, (what, labels) in STRATEGIES.items():
            rows[name] = {"what": what, "ari": [S.ari(labels(S, g)) for g in groups]}
        results[section] = {"models": a.models, "groups": groups, "strategies": rows}
        print(f"\n{section}: {a.models} models, {len(groups)} groups of 5 (ARI over groups)")
        print(f"| strategy | mean | median | sd | min |\n|---|---|---|---|---|")
        for name, r in rows.items():
            x = np.array(r["ari"])
            print(f"| {name} | {x.mean():.3f} | {np.median(x):.3f} | {x.std(ddof=1):.3f} | {x.min():.3f} |", flush=True)
        tmp = out.with_suffix(".tmp"); tmp.write_text(json.dumps(results, indent=1)); tmp.replace(out)


if __name__ == "__main__":
    main()
