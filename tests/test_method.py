"The method does what it is for, on the built-in section with known domains."
import numpy as np
import pytest

from spatial_vae.data import synthetic_visium
from spatial_vae.domains import find_domains
from spatial_vae.evaluation import score_domains, spatial_coherence
from spatial_vae.pipeline import run_pipeline


@pytest.fixture(scope="module")
def default_run():
    return run_pipeline(n_domains=5, progress=False)


def test_beats_leiden_on_plain_pca(default_run):
    adata = default_run.adata
    find_domains(adata, use_rep="X_pca", n_domains=5, key_added="pca_leiden")
    assert adata.obs["pca_leiden"].nunique() == 5
    pca_ari = score_domains(adata, "domain", "pca_leiden")["ari"]
    vae_ari = default_run.metrics["ari"]
    assert vae_ari > pca_ari + 0.15, f"spatial_vae ARI {vae_ari:.3f} vs PCA + Leiden {pca_ari:.3f}"


def test_default_run_votes_over_five_seeds(default_run):
    adata, metrics = default_run.adata, default_run.metrics
    assert metrics["ensemble"] == 5 and adata.uns["spatial_vae_ensemble"]["seeds"] == [0, 1, 2, 3, 4]
    members = [adata.obsm[f"X_spatial_vae_member{i}"] for i in range(1, 5)]
    assert all(m.shape == adata.obsm["X_spatial_vae"].shape for m in members)
    assert not any(np.array_equal(m, adata.obsm["X_spatial_vae"]) for m in members)     # other seeds, other models
    assert 0.8 < metrics["agreement"] <= 1                                              # the seeds largely agree here
    assert not any(c.startswith("spatial_vae_domain_") for c in adata.obs)      # members' and spare counts' labels are not left behind
    assert not any(k.startswith("spatial_vae_domain_") for k in adata.uns if k != "spatial_vae_domain_colors")
    assert "X_spatial_vae_smoothed" in adata.obsm and not any(k.endswith("_smoothed") for k in adata.obsm if "member" in k)


def _neighbour_distance_ratio(result) -> float:
    "Mean squared embedding distance between spatial neighbours, relative to that between random pairs of spots."
    z, (u, v) = result.adata.obsm["X_spatial_vae"], result.edges
    rand = np.random.default_rng(0).permutation(len(z))
    return float(((z[u] - z[v]) ** 2).sum(1).mean() / ((z - z[rand]) ** 2).sum(1).mean())


def test_spatial_term_pulls_neighbours_together():
    # the loss's spatial term alone: one model, no smoothing of the embedding after training and no merge of spare
    # mixture components (which components merge would decide the domains as much as the loss does) in either run,
    # and the seed's 16 latent dimensions (with 32 on this small synthetic section the ratios are 0.86 vs 0.85: most
    # of the extra dimensions carry little signal, and the ratio over all of them stops showing the pull)
    # Trained to convergence, 300 full-batch epochs: what the default does on this 1,600-spot section (full batch up to
    # 2,048 spots), pinned here so the test keeps measuring the loss if the batching default moves (in ~512-spot
    # batches for 300 steps the pull was weaker: 0.79 vs 0.81)
    alone = dict(n_domains=5, smoothing_hops=0, ensemble=1, latent_dim=16, extra_components=0, progress=False)
    converged = dict(batch_size=100_000, max_steps=0)
    flat = run_pipeline(lambda_spatial=0.0, **alone, **converged)
    spatial = run_pipeline(**alone, **converged)
    assert _neighbour_distance_ratio(spatial) < 0.95 * _neighbour_distance_ratio(flat)   # measured: 0.75 vs 0.82
    assert spatial.metrics["spatial_coherence"] > flat.metrics["spatial_coherence"]


def test_sections_without_an_array_grid_smooth_further():
    "A kNN graph (no array grid: single cells) smooths with smoothing_hops_cells, an array grid with smoothing_hops; the run records which."
    cells = synthetic_visium(n_rows=16, n_cols=16, n_genes=120)
    del cells.obs["array_row"], cells.obs["array_col"]
    run = run_pipeline(cells, epochs=5, ensemble=1, n_domains=4, progress=False)
    assert run.adata.uns["spatial_graph"]["method"] == "knn" and run.adata.uns["spatial_vae_domain"]["smoothing_hops"] == 4
    spots = run_pipeline(synthetic_visium(n_rows=16, n_cols=16, n_genes=120), epochs=5, ensemble=1, n_domains=4, progress=False)
    assert spots.adata.uns["spatial_graph"]["method"] == "hex" and spots.adata.uns["spatial_vae_domain"]["smoothing_hops"] == 2
    pinned = run_pipeline(cells, epochs=5, ensemble=1, n_domains=4, smoothing_hops_cells=1, progress=False)
    assert pinned.adata.uns["spatial_vae_domain"]["smoothing_hops"] == 1


def test_same_seed_same_domains():
    a = run_pipeline(synthetic_visium(n_rows=20, n_cols=20, n_genes=200), epochs=60, n_domains=4, progress=False)
    b = run_pipeline(synthetic_visium(n_rows=20, n_cols=20, n_genes=200), epochs=60, n_domains=4, progress=False)
    assert np.array_equal(a.adata.obsm["X_spatial_vae"], b.adata.obsm["X_spatial_vae"])
    assert (a.adata.obs["spatial_vae_domain"] == b.adata.obs["spatial_vae_domain"]).all()


def test_adam_is_torchs_adam_and_resumes_from_its_state():
    "`training.Adam` (torch's update, no torch._dynamo import) takes the same steps as torch.optim.Adam, also after a handover of state."
    import torch
    from spatial_vae.model import SpatialVAE
    from spatial_vae.training import Adam
    x = torch.randn(64, 12, generator=torch.Generator().manual_seed(1))
    def fit(model, opt, steps):
        for _ in range(steps):
            opt.zero_grad(); ((model(x)[0] - x) ** 2).mean().backward(); opt.step()
    models = []
    for make in (lambda m: torch.optim.Adam(m.parameters(), lr=1e-2, weight_decay=1e-3), lambda m: Adam(m.parameters(), lr=1e-2, weight_decay=1e-3)):
        torch.manual_seed(0); m = SpatialVAE(12, 3, (16,)).eval(); fit(m, make(m), 25); models.append(m)
    torch.manual_seed(0); handed = SpatialVAE(12, 3, (16,)).eval()
    theirs = torch.optim.Adam(handed.parameters(), lr=1e-2, weight_decay=1e-3); fit(handed, theirs, 10)
    ours = Adam(handed.parameters(), lr=1e-2, weight_decay=1e-3); ours.load_state_dict(theirs.state_dict()); fit(handed, ours, 15)
    for m in models[1:] + [handed]:
        for a, b in zip(models[0].parameters(), m.parameters()): assert torch.equal(a, b)
    with pytest.raises(ValueError, match="parameters"): Adam(list(handed.parameters())[:2], lr=1e-2, weight_decay=0.0).load_state_dict(ours.state_dict())


_REPEAT = """
import hashlib, warnings
import numpy as np
warnings.filterwarnings("ignore")
from spatial_vae.data import synthetic_visium
from spatial_vae.pipeline import run_pipeline
a = run_pipeline(synthetic_visium(24, 24, n_genes=200), n_domains=4, progress=False).adata
for key in ("X_pca", "X_spatial_vae", "X_spatial_vae_umap"):
    print(key, hashlib.sha256(np.ascontiguousarray(a.obsm[key]).tobytes()).hexdigest())
print("domains", hashlib.sha256("".join(a.obs["spatial_vae_domain"].astype(str)).encode()).hexdigest())
"""


def test_same_seed_same_result_whatever_the_thread_environment():
    "num_threads (settings.ini: 1) pins torch, BLAS/OpenMP and numba for every step: the libraries' thread variables change nothing."
    import os, subprocess, sys
    base = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    outputs = []
    for threads in ("1", "2"):
        env = base | {v: threads for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")}
        proc = subprocess.run([sys.executable, "-c", _REPEAT], env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        outputs.append(proc.stdout)
    assert outputs[0] == outputs[1] and outputs[0].count("\n") == 4, outputs


def test_n_domains_auto_finds_the_builtin_sections_five(tmp_path):
    "`--n-domains auto` from the command line: the built-in section's five simulated domains, the curve in metrics and a plot."
    import json
    from spatial_vae.cli import main
    assert main(["run", "--n-domains", "auto", "--out", str(tmp_path / "out"), "--quiet"]) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    auto = metrics["n_domains_auto"]
    assert auto["chosen"] == 5 and metrics["n_domains"] == 5 and metrics["settings"]["evaluation"]["n_domains"] == "auto"
    stability = {int(k): v for k, v in auto["stability"].items()}
    assert sorted(stability) == list(range(3, 16)) and max(stability, key=stability.get) == 5
    assert metrics["ari"] > 0.9
    assert (tmp_path / "out" / "n_domains_stability.png").stat().st_size > 0


def test_auto_ensemble_follows_section_size():
    from spatial_vae.pipeline import AUTO_ENSEMBLE, AUTO_ENSEMBLE_SMALL, ensemble_size
    from spatial_vae.training import AUTO_FULL_BATCH_SPOTS, AUTO_SMALL_SECTION
    auto = {"training": {"ensemble": 0}}
    sizes = [1_049, AUTO_FULL_BATCH_SPOTS, AUTO_FULL_BATCH_SPOTS + 1, 3_639, AUTO_SMALL_SECTION, AUTO_SMALL_SECTION + 1]
    assert [ensemble_size(auto, n) for n in sizes] == [AUTO_ENSEMBLE_SMALL] * 2 + [AUTO_ENSEMBLE] * 3 + [1]
    assert (AUTO_ENSEMBLE_SMALL, AUTO_ENSEMBLE) == (5, 3)                 # STARmap-sized sections 5, Visium 3 (CHANGELOG.md)
    assert all(ensemble_size({"training": {"ensemble": 2}}, n) == 2 for n in sizes)   # a set value wins everywhere
