"Large-section paths on a Visium HD-like section: sparse all the way, minibatches, sampled clustering and UMAP, DDP workers, GPU."
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.neighbors import kneighbors_graph

from spatial_vae.data import preprocess, synthetic_hd, synthetic_visium
from spatial_vae.domains import find_domains
from spatial_vae.evaluation import score_domains
from spatial_vae.pipeline import run_pipeline
from spatial_vae.training import train_spatial_vae


@pytest.fixture(scope="module")
def hd_run():
    # 22,000 bins: above the full-batch limit (20,000), so training takes the minibatch path; small caps keep it quick
    return run_pipeline(synthetic_hd(22_000, seed=2), n_domains=7, max_steps=250, max_fit_spots=8_000,
                        umap_max_spots=2_000, progress=False)


def test_hd_section_stays_sparse_and_uses_square_bins(hd_run):
    adata = hd_run.adata
    assert sp.issparse(adata.X) and sp.issparse(adata.layers["counts"]), "counts and normalised values stay sparse"
    assert hd_run.metrics["graph"] == "square"
    degree = np.bincount(hd_run.edges[0], minlength=adata.n_obs)
    assert degree.max() == 4 and degree.min() >= 2


def test_hd_training_takes_minibatches_within_the_step_cap(hd_run):
    params = hd_run.adata.uns["X_spatial_vae"]["params"]
    assert params["batch_size"] == 4096
    assert hd_run.metrics["ensemble"] == 1            # auto: one model above 20,000 spots
    assert any("one model above 20,000 spots" in note for note in hd_run.metrics["notes"])   # and the output says so
    history = hd_run.training.history
    assert 1 <= len(history) <= params["epochs"] and history["total"].iloc[-1] < history["total"].iloc[0]


def test_hd_domains_fitted_on_a_sample_cover_every_bin(hd_run):
    adata = hd_run.adata
    assert adata.uns["spatial_vae_domain"]["fitted_on"] == 8_000
    assert adata.obs["spatial_vae_domain"].notna().all() and adata.obs["spatial_vae_domain"].nunique() == 7
    assert np.isfinite(adata.obsm["X_spatial_vae_umap"]).all(1).sum() == 2_000
    # the smoothed embedding finds the simulated layers far better than the non-spatial PCA on the same bins
    find_domains(adata, use_rep="X_pca", n_domains=7, max_fit_spots=8_000, key_added="pca_gmm")
    pca = score_domains(adata, "domain", "pca_gmm")["ari"]
    assert hd_run.metrics["clustered"] == "X_spatial_vae_smoothed"
    assert hd_run.metrics["ari"] > max(0.8, pca + 0.2), (hd_run.metrics["ari"], pca)


def test_pipeline_trains_with_ddp_workers():
    result = run_pipeline(synthetic_visium(24, 24, n_genes=200), workers=2, epochs=40, n_domains=5, ensemble=1, progress=False)
    params = result.adata.uns["X_spatial_vae"]["params"]
    assert params["workers"] == 2 and len(result.training.history) == 40
    assert np.isfinite(result.adata.obsm["X_spatial_vae"]).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible to torch on this machine")
def test_gpu_training_matches_cpu():
    adata = synthetic_visium(24, 24, n_genes=200)
    preprocess(adata, n_top_genes=200, n_pcs=20)
    # a kNN graph from scikit-learn: the devices are compared on any graph, and GPU machines need no squidpy for it
    knn = kneighbors_graph(adata.obsm["spatial"], n_neighbors=6).tocoo()
    edges = np.vstack([knn.row, knn.col])
    cpu, gpu = adata.copy(), adata.copy()
    train_spatial_vae(cpu, edges, epochs=50, device="cpu", progress=False)
    train_spatial_vae(gpu, edges, epochs=50, device="cuda", progress=False)
    assert gpu.uns["X_spatial_vae"]["params"]["device"].startswith("cuda")
    np.testing.assert_allclose(gpu.obsm["X_spatial_vae"], cpu.obsm["X_spatial_vae"], rtol=1e-3, atol=1e-3)
