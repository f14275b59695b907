"Bad input fails early with one clear message naming the file or parameter; inputs are never modified."
import hashlib
import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from spatial_vae.cli import main
from spatial_vae.data import load_section, preprocess, read_spaceranger, synthetic_visium
from spatial_vae.graph import spatial_edges
from spatial_vae.pipeline import run_pipeline
from spatial_vae.training import train_spatial_vae

CYTASSIST = "Mouse_CytAssist_FFPE_CoexpressDeconvolve"


@pytest.fixture
def outs(shared_data, tmp_path) -> Path:
    "A writable copy of a real Space Ranger 2.x folder, to break in various ways."
    copy = tmp_path / "outs"
    shutil.copytree(shared_data / CYTASSIST, copy)
    return copy


def test_missing_matrix(outs):
    (outs / "filtered_feature_bc_matrix.h5").unlink()
    with pytest.raises(FileNotFoundError, match="no filtered_feature_bc_matrix.h5 in .*outs"):
        read_spaceranger(outs)


def test_missing_spatial_folder(outs):
    shutil.rmtree(outs / "spatial")
    with pytest.raises(FileNotFoundError, match="missing folder .*spatial"):
        read_spaceranger(outs)


def test_missing_positions(outs):
    (outs / "spatial" / "tissue_positions.csv").unlink()
    with pytest.raises(FileNotFoundError, match="tissue_positions"):
        read_spaceranger(outs)


def test_missing_scalefactors(outs):
    (outs / "spatial" / "scalefactors_json.json").unlink()
    with pytest.raises(FileNotFoundError, match="scalefactors_json.json"):
        read_spaceranger(outs)


def test_missing_images_only_warns(outs):
    (outs / "spatial" / "tissue_lowres_image.png").unlink()
    with pytest.warns(UserWarning, match="no tissue_lowres_image.png or tissue_hires_image.png"):
        adata = read_spaceranger(outs)
    assert adata.n_obs == 2898


def test_truncated_h5(outs):
    h5 = outs / "filtered_feature_bc_matrix.h5"
    h5.write_bytes(h5.read_bytes()[: h5.stat().st_size // 2])
    with pytest.raises(ValueError, match="cannot read .*filtered_feature_bc_matrix.h5: the file is truncated"):
        read_spaceranger(outs)


def test_h5_that_is_not_a_10x_matrix(outs):
    with h5py.File(outs / "filtered_feature_bc_matrix.h5", "w") as f:
        f["something"] = np.arange(3)
    with pytest.raises(ValueError, match="not a 10x feature-barcode matrix"):
        read_spaceranger(outs)


def test_barcodes_not_in_positions(outs):
    pos = outs / "spatial" / "tissue_positions.csv"
    table = pd.read_csv(pos)
    table["barcode"] = "X" + table["barcode"]
    table.to_csv(pos, index=False)
    with pytest.raises(ValueError, match="2898 of 2898 barcodes .* are not in the tissue positions"):
        read_spaceranger(outs)


def test_spaceranger_1x_positions_without_header(outs):
    pos = pd.read_csv(outs / "spatial" / "tissue_positions.csv")
    (outs / "spatial" / "tissue_positions.csv").unlink()
    pos.to_csv(outs / "spatial" / "tissue_positions_list.csv", index=False, header=False)
    v1 = read_spaceranger(outs)
    pos = pos.set_index("barcode").loc[v1.obs_names]
    assert np.allclose(v1.obsm["spatial"], pos[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(float))


def test_malformed_positions(outs):
    (outs / "spatial" / "tissue_positions.csv").write_text("barcode,in_tissue\nAAAC-1,1\n")
    with pytest.raises(ValueError, match="tissue_positions.csv: expected 6 columns"):
        read_spaceranger(outs)


def test_duplicate_gene_names_are_made_unique(outs):
    with h5py.File(outs / "filtered_feature_bc_matrix.h5", "r+") as f:
        names = f["matrix/features/name"][:]
        names[1] = names[0]
        f["matrix/features/name"][...] = names
    n_dup = int(pd.Index(names).duplicated().sum())          # the real file already has a few
    with pytest.warns(UserWarning, match=f"{n_dup} duplicate gene names made unique"):
        adata = read_spaceranger(outs)
    assert adata.var_names.is_unique


def test_zero_count_spots_are_dropped():
    adata = synthetic_visium(n_rows=10, n_cols=10, n_genes=100, markers_per_domain=5)
    adata.X = adata.X.toarray()
    adata.X[:7] = 0
    preprocess(adata, n_top_genes=80, n_pcs=10)
    assert adata.n_obs == 93 and adata.uns["spatial_vae_qc"]["spots_before"] == 100


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_in_matrix(tmp_path, bad):
    adata = synthetic_visium(n_rows=6, n_cols=6, n_genes=50, markers_per_domain=5)
    adata.X = adata.X.toarray()
    adata.X[3, 4] = bad
    adata.write_h5ad(tmp_path / "bad.h5ad")
    with pytest.raises(ValueError, match="bad.h5ad: the expression matrix holds 1 NaN or infinite"):
        load_section(tmp_path / "bad.h5ad")


def test_corrupt_h5ad(tmp_path):
    (tmp_path / "broken.h5ad").write_bytes(b"not an h5ad")
    with pytest.raises(ValueError, match="cannot read .*broken.h5ad"):
        load_section(tmp_path / "broken.h5ad")


def test_too_few_spots_for_neighbours_or_latent():
    tiny = synthetic_visium(n_rows=3, n_cols=3, n_genes=40, markers_per_domain=5, n_domains=2)
    with pytest.raises(ValueError, match="n_neighbors must be in 1..8"):
        spatial_edges(tiny, method="knn", n_neighbors=20)
    tiny.obsm["X_pca"] = np.random.default_rng(0).normal(size=(9, 5)).astype(np.float32)
    with pytest.raises(ValueError, match="9 spots are too few for latent_dim=16"):
        train_spatial_vae(tiny, spatial_edges(tiny), latent_dim=16, progress=False)


def test_brought_features_with_nan_are_named_before_their_pca():
    from spatial_vae.data import given_features
    adata = synthetic_visium(n_rows=6, n_cols=6, n_genes=40, markers_per_domain=5, n_domains=2)
    adata.obsm["mine"] = np.random.default_rng(0).normal(size=(adata.n_obs, 80))
    adata.obsm["mine"][3, 7] = np.nan
    with pytest.raises(ValueError, match=r"\.obsm\['mine'\] holds NaN or infinite values"):
        given_features(adata, "mine", n_pcs=10)
    assert "mine_pcs" not in adata.obsm


def test_sections_stacked_on_one_array_grid():
    "Two sections concatenated without a section key share every array position: the grid graph says so instead of linking them."
    import anndata as ad
    one = synthetic_visium(n_rows=6, n_cols=6, n_genes=40, markers_per_domain=5, n_domains=2)
    stack = ad.concat([one, one], index_unique="-")
    with pytest.raises(ValueError, match="36 spots share their \\(array_row, array_col\\).*per section"):
        spatial_edges(stack)
    from spatial_vae.distributed import section_edges      # the way out the message names: each section's own ring
    stack.obs["section"] = ["a"] * one.n_obs + ["b"] * one.n_obs
    edges = section_edges(stack)
    assert (stack.obs["section"].to_numpy()[edges[0]] == stack.obs["section"].to_numpy()[edges[1]]).all()
    assert edges.shape[1] == 2 * spatial_edges(one).shape[1]
    fractional = one.copy(); fractional.obs["array_col"] = fractional.obs["array_col"] + 0.5
    with pytest.raises(ValueError, match="array_row and array_col must be whole numbers"):
        spatial_edges(fractional, method="hex")


@pytest.mark.parametrize("option, value, message", [
    ("--beta", "-1", "beta must be >= 0"), ("--lambda-spatial", "-0.5", "lambda_spatial must be >= 0"),
    ("--epochs", "0", "epochs must be >= 1"), ("--latent-dim", "0", "latent_dim must be >= 1"),
    ("--graph", "ring", "graph method must be one of"), ("--cluster-method", "dbscan", "cluster method must be one of"),
    ("--beta", "nan", "beta must be a finite number"), ("--lambda-spatial", "inf", "lambda_spatial must be a finite number"),
    ("--learning-rate", "nan", "learning_rate must be a finite number"), ("--resolution", "inf", "resolution must be a finite number"),
    ("--device", "bogus", "device 'bogus' is not a device name"), ("--workers", "-4", "workers must be >= 1"),
    ("--n-domains", "5000", "more than the section's 1600 spots"),
] + ([("--device", "cuda", "torch sees no CUDA GPU")] if not __import__("torch").cuda.is_available() else []))
def test_parameters_out_of_range(tmp_path, capsys, option, value, message):
    assert main(["run", "--out", str(tmp_path / "o"), option, value, "--quiet"]) == 2
    assert message in capsys.readouterr().err


def test_inputs_are_never_modified(shared_data, tmp_path):
    folder = shared_data / CYTASSIST
    digest = lambda: {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}
    before = digest()
    assert main(["run", "--data", str(folder), "--out", str(tmp_path / "o"), "--epochs", "20", "--ensemble", "1", "--quiet"]) == 0
    assert digest() == before


def test_existing_output_folder_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    assert main(["run", "--out", str(out), "--epochs", "5", "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err and (out / "precious.txt").read_text() == "keep me"


@pytest.mark.parametrize("entry, message", [
    ({"x = 1\nimport pathlib; pathlib.Path('MARKER').touch()\ny": 1}, "unknown report parameter"),   # a key papermill would paste into code
    ({"seed": {"__class__": "x"}}, "'seed' must be"),
    ({"name": ".."}, "folder name"),                                                                  # would write into out's parent
])
def test_report_batch_cannot_run_code_or_leave_out(tmp_path, capsys, entry, message):
    marker = tmp_path / "code_ran"
    entry = {k.replace("MARKER", str(marker)): v for k, v in entry.items()}
    batch = tmp_path / "b.json"
    batch.write_text(__import__("json").dumps([{"name": "fine", "epochs": 5}, entry]))
    out = tmp_path / "reports"
    assert main(["report", "--batch", str(batch), "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not marker.exists() and not out.exists()          # refused before any report ran or any folder was made


def test_label_key_typo_is_reported_before_the_work(tmp_path, capsys, monkeypatch):
    import spatial_vae.pipeline as pipeline
    def no_training(*a, **k): raise AssertionError("training started before the label key was checked")
    monkeypatch.setattr(pipeline, "preprocess", no_training)
    assert main(["run", "--out", str(tmp_path / "o"), "--label-key", "domian", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "label_key (--label-key) 'domian' is not an .obs column" in err and "'domain'" in err


@pytest.mark.parametrize("text, message", [
    ("epochs = 300\n", "is not an INI file"),                                 # no [section] header
    ("[training]\nepochs = thirty\n", "epochs = 'thirty' is not a number"),
])
def test_bad_settings_file_names_file_and_parameter(tmp_path, capsys, text, message):
    settings = tmp_path / "my.ini"
    settings.write_text(text)
    assert main(["run", "--out", str(tmp_path / "o"), "--settings", str(settings), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and "my.ini" in err


def test_binary_settings_file_is_refused(tmp_path, capsys):
    settings = tmp_path / "my.ini"
    settings.write_bytes(bytes(range(256)) * 4)
    assert main(["run", "--out", str(tmp_path / "o"), "--settings", str(settings), "--quiet"]) == 2
    assert "my.ini is not an INI file" in capsys.readouterr().err


def test_degenerate_coordinates_or_graph_is_an_error():
    adata = synthetic_visium(n_rows=10, n_cols=10, n_genes=100)
    del adata.obs["array_row"], adata.obs["array_col"]               # kNN graph from coordinates ...
    adata.obsm["spatial"][:] = 0.0                                  # ... which are all the same point
    with pytest.raises(ValueError, match="holds 1 distinct positions for 100 spots"):
        run_pipeline(adata, epochs=2, ensemble=1, progress=False)
    adata.obsm["spatial"] = np.c_[np.arange(100) * 10.0, np.zeros(100)]
    with pytest.raises(ValueError, match="has 0 edges and 100 of 100 spots have no neighbour"):   # spots 10 apart, radius 0.5
        run_pipeline(adata, epochs=2, ensemble=1, progress=False, method="radius", radius=0.5)


def _lognorm(adata):
    import scanpy as sc
    sc.pp.normalize_total(adata); sc.pp.log1p(adata)
    return adata


def test_normalised_x_uses_counts_from_layers_or_raw():
    counts = synthetic_visium(n_rows=12, n_cols=12, n_genes=100)
    expected = counts.copy(); preprocess(expected, n_pcs=10)
    for where in ("layers", "raw"):
        adata = counts.copy()
        if where == "raw": adata.raw = adata.copy()
        else: adata.layers["counts"] = adata.X.copy()
        _lognorm(adata)
        preprocess(adata, n_pcs=10)
        assert any(f"used .{where}" in n for n in adata.uns["spatial_vae_qc"]["notes"])
        assert np.allclose(adata.obsm["X_pca"], expected.obsm["X_pca"], atol=1e-4)   # the same as from the counts


@pytest.mark.parametrize("make, why", [
    (lambda a: _lognorm(a), "fractional values"),
    (lambda a: __import__("scanpy").pp.scale(_lognorm(a)) or a, "negative values"),   # z-scored
    (lambda a: a.X.__setitem__((0, 0), -3) or a, "negative values"),                  # scattered negative counts
])
def test_values_that_are_not_counts_are_refused(make, why):
    adata = synthetic_visium(n_rows=12, n_cols=12, n_genes=100)
    adata.X = adata.X.toarray() if hasattr(adata.X, "toarray") else adata.X
    adata = make(adata)
    with pytest.raises(ValueError, match=f".X holds {why}.*not raw counts.*--features-key"):
        preprocess(adata)


def test_positions_header_in_another_order_is_read_by_name(outs):
    path = outs / "spatial" / "tissue_positions.csv"
    reference = read_spaceranger(outs)
    pos = pd.read_csv(path)
    pos[["barcode", "pxl_col_in_fullres", "in_tissue", "array_col", "pxl_row_in_fullres", "array_row"]].to_csv(path, index=False)
    swapped = read_spaceranger(outs)
    assert np.allclose(swapped.obsm["spatial"], reference.obsm["spatial"])
    assert swapped.obs["array_row"].equals(reference.obs["array_row"])


def _edit_positions(outs, change):
    path = outs / "spatial" / "tissue_positions.csv"
    pos = pd.read_csv(path)
    change(pos)
    pos.to_csv(path, index=False)


@pytest.mark.parametrize("corrupt, message", [
    (lambda o: (o / "spatial" / "tissue_positions.csv").write_text(""), "tissue_positions.csv is empty"),
    (lambda o: _edit_positions(o, lambda p: p.__setitem__("array_row", p["array_row"].where(p.index != 5))),
     "column array_row holds missing values"),
    (lambda o: _edit_positions(o, lambda p: p.__setitem__("pxl_row_in_fullres", p["pxl_row_in_fullres"].astype(object).where(p.index != 7, "x"))),
     "column pxl_row_in_fullres holds non-numeric values"),
    (lambda o: _edit_positions(o, lambda p: p.__setitem__("barcode", p["barcode"].where(p.index != 3, p["barcode"][2]))),
     "appears more than once"),
    (lambda o: (o / "spatial" / "scalefactors_json.json").write_text("[1, 2]"), "expected an object of scale factors"),
    (lambda o: (o / "spatial" / "scalefactors_json.json").write_text('{"tissue_lowres_scalef": 0.2}'), "no spot_diameter_fullres"),
    (lambda o: (o / "spatial" / "scalefactors_json.json").write_text('{"spot_diameter_fullres": "big"}'), "spot_diameter_fullres must be a positive"),
    (lambda o: (o / "spatial" / "scalefactors_json.json").write_text('{"spot_diameter_fullres": 14, "tissue_hires_scalef": -1}'),
     "tissue_hires_scalef must be a positive"),
    (lambda o: (o / "spatial" / "scalefactors_json.json").write_bytes(bytes(range(128, 256))), "scalefactors_json.json is not valid JSON"),
])
def test_broken_positions_or_scale_factors_name_the_file(outs, corrupt, message):
    corrupt(outs)
    with pytest.raises(ValueError, match=message):
        read_spaceranger(outs)


@pytest.mark.parametrize("spatial, message", [
    (lambda n: np.arange(n, dtype=float)[:, None], "must have two columns"),
    (lambda n: np.array([["a", "b"]] * n, dtype=object), "not numbers"),
])
def test_spatial_coordinates_of_the_wrong_shape_or_type(spatial, message):
    adata = synthetic_visium(n_rows=10, n_cols=10, n_genes=100)
    adata.obsm["spatial"] = spatial(adata.n_obs)
    with pytest.raises(ValueError, match=message):
        run_pipeline(adata, epochs=2, ensemble=1, progress=False)


def test_three_spots_are_refused_before_the_work():
    adata = synthetic_visium(n_rows=10, n_cols=10, n_genes=100)[:3].copy()
    with pytest.raises(ValueError, match="3 spots are too few"):
        run_pipeline(adata, epochs=2, ensemble=1, progress=False)


def test_anndata_given_in_python_is_not_modified():
    adata = load_section(None)
    before = adata.copy()
    result = run_pipeline(adata, epochs=5, ensemble=1, n_domains=5, progress=False)
    assert result.adata is not adata and result.adata.obsm.get("X_spatial_vae") is not None
    assert adata.shape == before.shape and list(adata.obs.columns) == list(before.obs.columns)   # no QC filtering, no domain column
    assert set(adata.obsm) == set(before.obsm) and set(adata.uns) == set(before.uns) and set(adata.layers) == set(before.layers)
    diff = adata.X != before.X
    assert (diff.nnz if hasattr(diff, "nnz") else diff.sum()) == 0      # counts not normalised in place
