"Several sections in one run: one model, edges inside each section, domains shared by all sections."
import json

import anndata as ad
import numpy as np
import pytest

from spatial_vae.data import synthetic_visium


def _sections(tmp_path):
    a = synthetic_visium(30, 30, n_genes=300, seed=1, expression_seed=0)
    b = synthetic_visium(30, 30, n_genes=300, seed=2, expression_seed=0)
    extra = ad.AnnData(np.random.default_rng(0).poisson(1.0, (b.n_obs, 20)).astype(np.float32), obs=b.obs[[]])
    extra.var_names = [f"extra{i}" for i in range(20)]
    b = ad.concat([b, extra], axis=1, merge="first", uns_merge="first")   # 20 genes only b has: dropped from the shared set
    b.X = b.X * 2                                                          # and sequenced twice as deep
    paths = []
    for name, section in (("slice_a", a), ("slice_b", b)):
        paths.append(tmp_path / f"{name}.h5ad"); section.write_h5ad(paths[-1])
    return paths


def test_two_sections_share_their_domains(tmp_path):
    from spatial_vae.cli import main
    paths = _sections(tmp_path)
    before = [p.read_bytes() for p in paths]
    out = tmp_path / "study"
    assert main(["run", "--data", str(paths[0]), "--data", str(paths[1]), "--n-domains", "5", "--label-key", "domain",
                 "--out", str(out), "--quiet"]) == 0
    assert [p.read_bytes() for p in paths] == before                      # inputs untouched
    metrics = json.loads((out / "metrics.json").read_text())
    sections = metrics["sections"]
    assert set(sections) == {"slice_a", "slice_b"} and all(s["n_spots"] == 900 for s in sections.values())
    assert all(s["ari"] > 0.8 for s in sections.values()), sections
    assert metrics["ari"] > 0.8                                           # pooled labels: the same domain has one name in both
    assert any("2 sections analysed jointly over their 300 shared genes" in n and "slice_b 20" in n for n in metrics["notes"])
    result = ad.read_h5ad(out / "spatial_vae.h5ad")
    assert result.n_obs == 1800 and set(result.obs["section"]) == {"slice_a", "slice_b"}
    assert "highly_variable_nbatches" in result.var                       # genes were ranked within each section
    voted = [str(k) for k in result.uns["spatial_vae_domain"]["consensus_of"]]
    assert sum(k.endswith("_alone") for k in voted) * 2 == len(voted) > 2   # each labelling also with each section alone
    for name in ("spatial_clusters.png", "latent_space_umap.png"): assert (out / name).stat().st_size > 0


def test_joint_preprocessing_keeps_a_sections_chemistry_out_of_the_pcs():
    import scipy.sparse as sp
    from spatial_vae.data import preprocess
    from spatial_vae.distributed import stack_sections
    a, b = synthetic_visium(seed=0), synthetic_visium(seed=1)
    X = b.X.toarray() if sp.issparse(b.X) else b.X.copy()
    X[:, :40] *= 4                                                        # 40 genes read 4x higher in section b only
    X[:, 399] = 0                                                         # and one gene section b never detects
    b.X = sp.csr_matrix(X) if sp.issparse(b.X) else X
    stack = stack_sections({"a": a, "b": b}, "section")
    def gap(out):   # distance between the sections' mean PCA vectors, in units of the total spread
        pcs, in_b = out.obsm["X_pca"], (out.obs["section"] == "b").to_numpy()
        return np.linalg.norm(pcs[in_b].mean(0) - pcs[~in_b].mean(0)) / np.sqrt(pcs.var(0).sum())
    assert gap(preprocess(stack, n_top_genes=200, copy=True)) > 0.5      # pooled residuals: the shift is a main axis
    within = preprocess(stack, n_top_genes=400, batch_key="section", copy=True)   # every gene, the undetected one too
    assert np.isfinite(within.obsm["X_pca"]).all() and gap(within) < 0.1 # residuals per section: the shift is gone
    log1p = preprocess(stack, n_top_genes=200, batch_key="section", normalization="log1p", copy=True)
    assert np.isfinite(log1p.obsm["X_pca"]).all() and "highly_variable_nbatches" in log1p.var
    with pytest.raises(KeyError, match="batch_key 'slide'"): preprocess(stack, batch_key="slide", copy=True)
    stack.obs["part"] = stack.obs["section"].astype(object).where(np.arange(stack.n_obs) % 50 > 0)   # some spots unassigned
    with pytest.raises(ValueError, match="batch_key 'part': 64 spots have no section"): preprocess(stack, batch_key="part", copy=True)


def test_a_study_needs_two_sections_and_names_them_uniquely(tmp_path):
    from spatial_vae.pipeline import _study_items, load_study
    with pytest.raises(ValueError, match="at least 2 sections"): load_study([synthetic_visium(10, 10, n_genes=100)])
    names = list(_study_items([tmp_path / "a.h5ad", tmp_path / "x" / "a.h5ad", tmp_path / "s1" / "outs"]))
    assert names == ["a", "a_2", "s1"]
    names = list(_study_items([tmp_path / "x_3.h5ad", tmp_path / "a" / "x.h5ad", tmp_path / "b" / "x.h5ad"]))
    assert len(set(names)) == 3, names                                     # no section lost to a clash of names


def test_n_domains_auto_settings_are_checked_before_the_work():
    from spatial_vae.domains import find_domains
    from spatial_vae.pipeline import merged_settings
    for bad in ("15,3", "5", "1,4"):
        with pytest.raises(ValueError, match="n_domains_range must be two whole numbers"):
            merged_settings({"n_domains": "auto", "n_domains_range": bad})
    with pytest.raises(ValueError, match="find_domains needs a number of domains"):
        find_domains(synthetic_visium(10, 10, n_genes=100), use_rep="X_pca", n_domains="auto")


def test_edges_stay_inside_each_section():
    from spatial_vae.distributed import section_edges, stack_sections
    stack = stack_sections({f"s{i}": synthetic_visium(12, 12, n_genes=100, seed=i) for i in range(2)})
    edges = section_edges(stack)
    sec = stack.obs["section"].to_numpy()
    assert edges.shape[1] > 0 and (sec[edges[0]] == sec[edges[1]]).all()


def test_a_joint_report(tmp_path):
    "`spatial-vae report --joint`: one report of both sections, with each section's scores."
    from spatial_vae.cli import main
    paths = _sections(tmp_path)
    out = tmp_path / "reports"
    assert main(["report", "--joint", "--data", str(paths[0]), "--data", str(paths[1]), "--n-domains", "5", "--label-key", "domain",
                 "--out", str(out)]) == 0
    folder = out / "slice_a_slice_b"
    notebook = json.loads((folder / "report.ipynb").read_text())
    outputs = [o for c in notebook["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("name") == "stderr" or o.get("output_type") == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3   # figures even where MPLBACKEND=Agg (CI, servers)
    text = json.dumps(outputs)
    assert "ari" in text and "slice_a" in text and "slice_b" in text                      # each section's scores
    assert json.loads((folder / "results" / "metrics.json").read_text())["sections"]["slice_b"]["ari"] > 0.8
    import hashlib
    for path in paths: assert hashlib.sha256(path.read_bytes()).hexdigest() in text   # what was run: each section's checksum
    html = (folder / "report.html").read_text()
    assert 'data-mime-type="application/vnd.jupyter.stderr"' not in html and "Traceback" not in html   # no red boxes
    assert all(word in html for word in ("torch", "scanpy", "lambda_spatial", "n_domains"))   # versions and the settings used
    with pytest.raises(ValueError, match="--joint needs two or more"):
        from spatial_vae.cli import build_parser, report_runs
        report_runs(build_parser().parse_args(["report", "--joint", "--data", str(paths[0])]))


def test_a_joint_run_refuses_what_it_cannot_do(tmp_path):
    "A label column missing from one section, and --batch beside --joint: one message each, before any work."
    from spatial_vae.cli import build_parser, main, report_runs
    paths = _sections(tmp_path)
    b = ad.read_h5ad(paths[1]); del b.obs["domain"]; b.write_h5ad(paths[1])
    with pytest.raises(KeyError, match="'domain' is not an .obs column of section 'slice_b'"):
        from spatial_vae.pipeline import run_pipeline
        run_pipeline(paths, label_key="domain", progress=False)
    out = tmp_path / "never"
    assert main(["run", "--data", str(paths[0]), "--data", str(paths[1]), "--batch-correction", "combat", "--out", str(out), "--quiet"]) == 2
    assert not out.exists()                                               # refused before any output or work
    batch = tmp_path / "batch.json"; batch.write_text(json.dumps([{"data": [str(p) for p in paths]}]))
    with pytest.raises(ValueError, match="drop --joint and --data"):
        report_runs(build_parser().parse_args(["report", "--batch", str(batch), "--joint", "--data", str(paths[0])]))
    assert report_runs(build_parser().parse_args(["report", "--batch", str(batch)])) == [{"data": [str(p) for p in paths]}]


def test_the_section_as_a_covariate_of_the_decoder():
    "batch_correction = covariate: the decoder sees each spot's section one-hot; the features stay as they are; not with DDP."
    from spatial_vae.pipeline import run_pipeline
    a = synthetic_visium(20, 20, n_genes=200, seed=1, expression_seed=0)
    b = synthetic_visium(20, 20, n_genes=200, seed=2, expression_seed=0)
    b.X = b.X * 2
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = run_pipeline({"a": a, "b": b}, n_domains=5, label_key="domain", progress=False, batch_correction="covariate",
                         ensemble=1, max_steps=150)
    assert not [w for w in caught if "not writable" in str(w.message)]   # the covariate codes are copied, not wrapped read-only
    assert r.training.model.config["n_covariates"] == 2 and r.adata.uns["X_spatial_vae"]["params"]["covariate_key"] == "section"
    assert any("decoder was given each spot's section" in n for n in r.metrics["notes"])
    assert all(s["ari"] > 0.6 for s in r.metrics["sections"].values()), r.metrics["sections"]
    with pytest.raises(ValueError, match="covariate_key"):
        run_pipeline({"a": a, "b": b}, n_domains=5, progress=False, batch_correction="covariate", workers=2)


def test_a_joint_labelling_is_redone_within_each_large_enough_section():
    "In a joint run each labelling is also made with every section clustered on its own and matched to it on the same spots; a section too small for a mixture keeps the joint labels."
    import pandas as pd
    from spatial_vae.pipeline import _sections_alone, merged_settings
    rng = np.random.default_rng(0)
    truth = np.r_[np.repeat([0, 1, 2], 100), np.repeat([0, 1, 2], [7, 7, 6])]          # section a: 300 spots, b: 20
    emb = rng.normal(0, 0.3, (320, 4)) + np.eye(4)[truth] * 5
    joint = truth.copy()
    joint[rng.choice(300, 30, replace=False)] = rng.integers(0, 3, 30)                 # a's joint labels: some spots wrong
    joint[300:] = (truth[300:] + 1) % 3                                                 # b's: all wrong, but b is too small
    adata = ad.AnnData(obs=pd.DataFrame({"section": ["a"] * 300 + ["b"] * 20, "joint": pd.Categorical(joint.astype(str))},
                                        index=[f"s{i}" for i in range(320)]), obsm={"emb": emb})
    adata.uns["joint"] = {"method": "gmm"}
    given = rng.dirichlet(np.ones(3), 320).astype(np.float32)                           # a joint mixture's posterior
    adata.obsm["joint_posterior"] = pd.DataFrame(given, index=adata.obs_names, columns=["0", "1", "2"])
    key = _sections_alone(adata, merged_settings({"n_domains": 3}), "joint", "emb", 0, seed=0)
    alone = adata.obs[key].astype(int).to_numpy()
    assert key == "joint_alone" and adata.uns[key] == {"method": "gmm"}   # the vote's notes: how the labelling was found
    assert (alone[:300] == truth[:300]).all()           # a clustered on its own: its clusters, in the joint labels' names
    assert (alone[300:] == joint[300:]).all()           # b (20 spots < 10 per component): the joint labels as they were
    assert (adata.obs["joint"].astype(int).to_numpy() == joint).all()   # the joint labelling is left as it was
    posterior = adata.obsm["joint_alone_posterior"]                   # the posterior follows the labels it came with
    assert list(posterior.columns) == ["0", "1", "2"]
    assert (posterior.to_numpy()[:300].argmax(1) == alone[:300]).all() and np.allclose(posterior.to_numpy()[300:], given[300:])
