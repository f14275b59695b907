"A Visium HD run from Space Ranger's binned outputs, through the command line, as a user starts it."
import json

import anndata as ad
import numpy as np
import pandas as pd

from spatial_vae.cli import build_parser, main, report_runs
from spatial_vae.data import synthetic_hd, write_spaceranger_hd


def test_cli_runs_on_a_space_ranger_hd_folder(tmp_path, capsys):
    "`--data <sample>` finds outs/binned_outputs/square_016um at --bin-size 16, and the domains follow the synthetic ones."
    bins = synthetic_hd(3_000, n_genes=200, bin_size_um=16.0, seed=3)
    write_spaceranger_hd(bins, tmp_path / "hd_sample", outside=50)
    write_spaceranger_hd(synthetic_hd(900, n_genes=200, bin_size_um=8.0), tmp_path / "hd_sample")   # a second bin size beside it
    out = tmp_path / "out"
    assert main(["run", "--data", str(tmp_path / "hd_sample"), "--bin-size", "16", "--out", str(out), "--n-domains", "7",
                 "--epochs", "60", "--ensemble", "1", "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_spots"] == 3_000 and metrics["graph"] == "square"      # off-tissue bins left out, bins on their grid
    result = ad.read_h5ad(out / "spatial_vae.h5ad")
    truth = bins.obs["domain"].reindex(result.obs_names)
    from sklearn.metrics import adjusted_rand_score
    assert adjusted_rand_score(truth, result.obs["spatial_vae_domain"]) > 0.8
    assert {"spatial_clusters.png", "latent_space_umap.png"} <= {p.name for p in out.iterdir()}


def test_hd_bin_size_that_was_not_written_names_the_ones_that_were(tmp_path, capsys):
    write_spaceranger_hd(synthetic_hd(400, n_genes=120, bin_size_um=8.0), tmp_path / "hd")
    assert main(["run", "--data", str(tmp_path / "hd"), "--bin-size", "2", "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no square_002um" in err and "bins of [8] µm" in err and "--bin-size" in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_report_takes_the_bin_size_per_section(tmp_path):
    "`report --bin-size` and a batch entry's bin_size reach the template, whose parameters cell declares it."
    from spatial_vae.report import check_report_parameters
    args = build_parser().parse_args(["report", "--data", str(tmp_path / "a"), "--bin-size", "16"])
    (run,) = report_runs(args)
    assert run["bin_size"] == 16 and run["data"] == str(tmp_path / "a")
    from spatial_vae.report import report_parameters
    check_report_parameters({"data": str(tmp_path / "a"), "bin_size": 2}, report_parameters())   # raises on a key the template lacks
