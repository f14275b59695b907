"What a user sees in the terminal: progress lines and bars only, no third-party warnings, quick refusals."
import os
import re
import subprocess
import sys

RUN = "import sys; from spatial_vae.cli import main; code = main(sys.argv[1:]); print('heavy:', 'torch' in sys.modules); sys.exit(code)"


def spatial_vae(*args, cwd=None) -> subprocess.CompletedProcess:
    "`spatial-vae ARGS` in a fresh process (warnings are printed once per process, so in-process runs would hide them)."
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    return subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=900)


def test_a_run_prints_no_warning_and_quiet_prints_nothing(tmp_path):
    quick = ["--epochs", "20", "--ensemble", "2", "--n-domains", "5", "--label-key", "domain"]
    quiet = spatial_vae("run", "--out", str(tmp_path / "quiet"), "--quiet", *quick)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == "", f"--quiet still wrote to stderr:\n{quiet.stderr}"
    loud = spatial_vae("run", "--out", str(tmp_path / "loud"), *quick)
    assert loud.returncode == 0, loud.stderr
    lines = [line.strip() for line in re.split(r"[\r\n]+", loud.stderr) if line.strip()]
    stray = [line for line in lines if not re.match(r"^(spatial-vae: \w+ +[\d.]+ s|model \d/\d: )", line)]
    assert not stray, f"stderr holds more than progress:\n" + "\n".join(stray[:10])
    steps = [line.split()[1] for line in lines if line.startswith("spatial-vae: ")]
    assert steps == ["load", "preprocess", "graph", "train", "domains", "umap"]
    assert any(line.startswith("model 2/2: 100%") for line in lines)          # each model's bar says which it is


def test_refusals_come_before_the_heavy_imports(tmp_path):
    (tmp_path / "full").mkdir(); (tmp_path / "full" / "notes.txt").write_text("mine")
    for args, message in ((["--out", str(tmp_path / "full")], "is not empty"),
                          (["--data", str(tmp_path / "missing.h5ad"), "--out", str(tmp_path / "o")], "no such file or folder"),
                          (["--settings", str(tmp_path / "missing.ini"), "--out", str(tmp_path / "o")], "--settings")):
        run = spatial_vae("run", *args, "--quiet")
        assert run.returncode == 2 and message in run.stderr, run.stderr
        assert "heavy: False" in run.stdout, f"torch was imported before refusing {args}"


def test_an_output_read_back_with_its_features_says_only_this_runs_notes(tmp_path):
    "A written .h5ad carries its run's notes (a .h5ad gives lists back as arrays): a run on it with --features-key starts its own."
    import numpy as np
    from spatial_vae.data import preprocess, synthetic_visium
    from spatial_vae.pipeline import run_pipeline
    section = synthetic_visium(20, 20, n_genes=200)
    preprocess(section, n_top_genes=150, n_pcs=80)                 # as if the section came with an 80-column PCA
    section.uns["spatial_vae_qc"]["notes"] = ["an earlier run's note"]
    section.write_h5ad(tmp_path / "brought.h5ad")
    result = run_pipeline(str(tmp_path / "brought.h5ad"), features_key="X_pca", epochs=5, ensemble=1, n_domains=5, progress=False)
    notes = result.metrics["notes"]
    assert any(n.startswith("X_pca has 80 columns, more than n_pcs=50") for n in notes), notes
    assert "an earlier run's note" not in notes and result.metrics["features_key"] == "X_pca_pcs"
    assert result.adata.obsm["X_pca_pcs"].shape == (400, 50) and np.isfinite(result.adata.obsm["X_spatial_vae"]).all()
