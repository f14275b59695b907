"""find_domains and the merge of spare components on the built-in section: the checks that were chapter 05's hidden cell.

The chapter keeps its worked example and two checks; the regression checks of every method, argument and edge case
run here, on the same section trained as the chapter trains it."""
import numpy as np
import pandas as pd
import pytest
import fastcore.test as ft   # test_eq / test_fail / test_close, as the chapters use them (a module, so pytest does not collect them)
from sklearn.mixture import GaussianMixture

from spatial_vae.data import preprocess, synthetic_visium
from spatial_vae.domains import (check_clustering_arguments, find_domains, merge_closest_components, resolved_cluster_method,
                                 spare_component_counts, whiten_means)
from spatial_vae.evaluation import score_domains, spatial_coherence
from spatial_vae.graph import spatial_edges
from spatial_vae.training import train_spatial_vae


@pytest.fixture(scope="module")
def trained():
    "The built-in section with a trained embedding and five domains, as chapter 05 makes it."
    syn = synthetic_visium()
    preprocess(syn, n_top_genes=300, n_pcs=30)
    edges = spatial_edges(syn)
    train_spatial_vae(syn, edges, epochs=300, progress=False)
    find_domains(syn, n_domains=5)
    return syn, edges


def test_find_domains_every_method_argument_and_edge_case(trained):
    syn, edges = trained
    ft.test_eq(syn.obs["spatial_vae_domain"].nunique(), 5)
    assert score_domains(syn, "domain")["ari"] > 0.6
    assert find_domains(syn, method="leiden", resolution=0.5, key_added="res").nunique() >= 2   # Leiden at a resolution
    ft.test_eq(find_domains(syn, method="leiden", n_domains=6, key_added="l6").nunique(), 6)      # resolution search
    for method in ("kmeans", "gmm"):
        ft.test_eq(find_domains(syn, method=method, n_domains=5, key_added=method).nunique(), 5)
    ft.test_fail(lambda: find_domains(syn, method="kmeans"), contains="n_domains")
    ft.test_fail(lambda: find_domains(syn, method="dbscan"), contains="cluster method")
    ft.test_fail(lambda: find_domains(syn, n_domains=5, extra_components=-1), contains="extra_components")
    ft.test_fail(lambda: find_domains(syn, n_domains=5, extra_components=(0, 1)), contains="one extra_components value")
    check_clustering_arguments(extra_components=(0, 1, 2, 3))                               # several: the pipeline's vote
    ft.test_eq([resolved_cluster_method(m, k) for m, k in (("auto", 7), ("auto", 0), ("kmeans", 7), ("leiden", 7))],
            ["gmm", "leiden", "kmeans", "leiden"])
    for bad in ((0, -1), (), (0.5,), "2", "two"): ft.test_fail(lambda: check_clustering_arguments(extra_components=bad), contains="extra_components must be 'auto' or >= 0")
    check_clustering_arguments(extra_components="auto")
    ft.test_fail(lambda: find_domains(syn, n_domains=5, extra_components="auto"), contains="spare_component_counts")
    # auto: one spare per 7 domains and fit; DLPFC's 7 layers keep the counts 0-3 that were measured there
    ft.test_eq([spare_component_counts(k) for k in (1, 5, 7, 10, 20, 30)], [(0, 1, 2, 3)] * 3 + [(0, 1, 2, 3), (0, 3, 6, 9), (0, 4, 8, 12)])
    ft.test_eq(spare_component_counts(20, fits=1), (0,)); ft.test_fail(lambda: spare_component_counts(7, fits=0), contains="fits")
    ft.test_fail(lambda: find_domains(syn, n_domains=syn.n_obs + 1), contains=f"n_domains must be in 0..{syn.n_obs}")
    ft.test_fail(lambda: check_clustering_arguments(resolution=0), contains="resolution")   # no data needed: a pre-flight check
    # two components more than domains, merged back: still exactly 5 domains (the mixture's still the truth's)
    for method in ("kmeans", "gmm"):
        merged = find_domains(syn, method=method, n_domains=5, extra_components=2, key_added=f"{method}_x2")
        ft.test_eq(merged.nunique(), 5); ft.test_eq(syn.uns[f"{method}_x2"]["extra_components"], 2)
    assert score_domains(syn, "domain", "gmm_x2")["ari"] > 0.6
    # merging by hand: the two close means join; a covariance that stretches axis 0 makes axis-1 gaps the far ones
    def same_groups(a, b): return pd.crosstab(a, b).astype(bool).sum().eq(1).all() and len(set(a)) == len(set(b))
    assert same_groups(merge_closest_components(np.array([[0., 0], [0.1, 0], [5, 0], [10, 0]]), 3), [0, 0, 1, 2])
    stretch = np.diag([100., 1])
    assert same_groups(merge_closest_components(np.array([[0., 0], [3, 0], [0, 2]]), 2, stretch), [0, 0, 1])
    assert same_groups(merge_closest_components(np.array([[0., 0], [3, 0], [0, 2]]), 2), [0, 1, 0])   # Euclidean: (0,2) is nearer
    # a float32 embedding with near-idle dimensions (as a 64-d latent has): its tied covariance is ill-conditioned, and
    # the merge must still work (inverting it in float32 failed as 'not positive definite')
    rng = np.random.default_rng(0)
    idle = np.hstack([rng.normal(size=(2000, 16)) * 0.1 + rng.integers(0, 9, (2000, 1)) * 0.05,
                      rng.normal(size=(2000, 48)) * np.logspace(-4, -2, 48)])
    idle = (idle @ np.linalg.qr(rng.normal(size=(64, 64)))[0]).astype(np.float32)
    mix = GaussianMixture(9, covariance_type="tied", random_state=0).fit(idle)
    ft.test_eq(len(set(merge_closest_components(mix.means_, 7, mix.covariances_))), 7)
    # whitened distances are the Mahalanobis ones: d(a, b)^2 = (a - b)^T C^-1 (a - b) (to 1e-4: C is ill-conditioned,
    # and the BLAS thread count moves the last digits)
    white, gap = whiten_means(mix.means_, mix.covariances_), (mix.means_[0] - mix.means_[1]).astype(np.float64)
    mahalanobis2 = gap @ np.linalg.solve(mix.covariances_.astype(np.float64), gap)
    ft.test_close(((white[0] - white[1]) ** 2).sum() / mahalanobis2, 1.0, eps=1e-4)
    # fitted on a sample, every spot still gets a domain, and they agree with the full fit
    for method in ("gmm", "leiden"):
        sub = find_domains(syn, method=method, n_domains=5, max_fit_spots=600, key_added=f"sub_{method}")
        ft.test_eq(syn.uns[f"sub_{method}"]["fitted_on"], 600); assert sub.notna().all()
        assert score_domains(syn, "domain", f"sub_{method}")["ari"] > 0.5
    # coherence by hand: a perfect split scores 1, a random labelling about 1/k
    syn.obs["half"] = pd.Categorical(np.where(syn.obsm["spatial"][:, 0] < 2000, "a", "b"))
    assert spatial_coherence(syn, edges, "half") > 0.95
    syn.obs["random"] = pd.Categorical(np.random.default_rng(0).integers(0, 5, syn.n_obs).astype(str))
    assert abs(spatial_coherence(syn, edges, "random") - 0.2) < 0.05
    ft.test_close(score_domains(syn, "domain", "domain")["ari"], 1.0)
