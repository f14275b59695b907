"Downloads, interrupted training and checkpoints: nothing half-written is left, and work can be resumed."
import functools
import hashlib
import http.server
import os
import shutil
import signal
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

import spatial_vae.data as data
from spatial_vae.data import download_visium, preprocess, read_spaceranger, synthetic_visium
from spatial_vae.graph import spatial_edges
from spatial_vae.training import Adam, train_spatial_vae

md5 = lambda p: hashlib.md5(Path(p).read_bytes()).hexdigest()


class _Handler(http.server.SimpleHTTPRequestHandler):
    "Serves files; a file whose name contains 'cut' is sent half and the connection dropped (an interrupted download)."
    requests = []
    def log_message(self, *args): pass
    def do_GET(self):
        _Handler.requests.append(self.path)
        if "cut" in self.path:
            body = Path(self.directory, self.path.lstrip("/")).read_bytes()
            self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
            self.wfile.write(body[: len(body) // 2]); self.wfile.flush()
            self.connection.shutdown(2)
            return
        super().do_GET()


@pytest.fixture
def server(shared_data, tmp_path, monkeypatch):
    "A localhost stand-in for 10x's download site, serving a real Space Ranger folder as a 'Fake' dataset."
    site = tmp_path / "site" / "0.0" / "Fake"
    site.mkdir(parents=True)
    src = shared_data / "Mouse_CytAssist_FFPE_CoexpressDeconvolve"
    shutil.copy(src / "filtered_feature_bc_matrix.h5", site / "Fake_filtered_feature_bc_matrix.h5")
    with tarfile.open(site / "Fake_spatial.tar.gz", "w:gz") as tar:
        tar.add(src / "spatial", arcname="spatial")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(tmp_path / "site")))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setattr(data, "TENX_BASE", f"http://127.0.0.1:{httpd.server_address[1]}")
    files = {"filtered_feature_bc_matrix.h5": (0, md5(site / "Fake_filtered_feature_bc_matrix.h5")),
             "spatial.tar.gz": (0, md5(site / "Fake_spatial.tar.gz"))}
    monkeypatch.setitem(data.VISIUM_DATASETS, "Fake", ("0.0", files))
    _Handler.requests.clear()
    yield site, files
    httpd.shutdown()


def test_download_checksums_cache_and_reuse(server, tmp_path):
    site, files = server
    folder = download_visium("Fake", cache_dir=tmp_path / "cache", progress=False)
    assert read_spaceranger(folder).n_obs == 2898
    assert len(_Handler.requests) == 2
    download_visium("Fake", cache_dir=tmp_path / "cache", progress=False)
    assert len(_Handler.requests) == 2, "a cached, correct file is never downloaded again"


def test_checksum_mismatch_leaves_nothing(server, tmp_path, monkeypatch):
    site, files = server
    monkeypatch.setitem(data.VISIUM_DATASETS, "Fake", ("0.0", {**files, "spatial.tar.gz": (0, "0" * 32)}))
    with pytest.raises(ValueError, match="Fake_spatial.tar.gz downloaded from .* failed its md5 check"):
        download_visium("Fake", cache_dir=tmp_path / "cache", progress=False)
    left = sorted(p.name for p in (tmp_path / "cache" / "Fake").iterdir())
    assert left == ["Fake_filtered_feature_bc_matrix.h5"], left     # the good file stays, no half or bad file


def test_interrupted_download_leaves_nothing_and_restarts(server, tmp_path, monkeypatch):
    site, files = server
    shutil.copy(site / "Fake_spatial.tar.gz", site / "cut_spatial.tar.gz")
    monkeypatch.setattr(data, "dataset_files", lambda name: [
        ("Fake_spatial.tar.gz", f"{data.TENX_BASE}/0.0/Fake/cut_spatial.tar.gz", 0, files["spatial.tar.gz"][1])])
    with pytest.raises(ConnectionError, match="could not download .* put it in"):
        download_visium("Fake", cache_dir=tmp_path / "cache", progress=False)
    assert list((tmp_path / "cache" / "Fake").iterdir()) == []          # no partial file
    monkeypatch.undo()                                                   # the connection is back: a clean restart
    monkeypatch.setattr(data, "TENX_BASE", data.TENX_BASE)


def test_offline_message_says_where_to_put_files(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "TENX_BASE", "http://127.0.0.1:9")       # nothing listens on the discard port
    with pytest.raises(ConnectionError, match=r"put it in .*Visium_Human_Breast_Cancer"):
        download_visium("Visium_Human_Breast_Cancer", cache_dir=tmp_path, progress=False)
    assert [p for p in (tmp_path / "Visium_Human_Breast_Cancer").iterdir()] == []


@pytest.fixture(scope="module")
def small():
    adata = synthetic_visium(n_rows=16, n_cols=16, n_genes=150, markers_per_domain=10)
    preprocess(adata, n_top_genes=120, n_pcs=20)
    return adata, spatial_edges(adata)


def test_ctrl_c_leaves_a_checkpoint_that_resumes(small, tmp_path, monkeypatch):
    adata, edges = small
    full = adata.copy()
    train_spatial_vae(full, edges, epochs=400, progress=False)
    ckpt = tmp_path / "ckpt.pt"
    # Ctrl-C after the 100th optimiser step: a timer raced the training, which now ends in under its second
    steps, adam_step = [], Adam.step
    def step_then_ctrl_c(self, *args, **kwargs):
        out = adam_step(self, *args, **kwargs); steps.append(1)
        if len(steps) == 100: os.kill(os.getpid(), signal.SIGINT)
        return out
    monkeypatch.setattr(Adam, "step", step_then_ctrl_c)
    part = adata.copy()
    with pytest.raises(KeyboardInterrupt, match="checkpoint saved to"):
        train_spatial_vae(part, edges, epochs=400, progress=False, checkpoint=ckpt)
    monkeypatch.undo()
    assert len(steps) < 400                                              # it stopped part-way
    assert ckpt.is_file() and not list(tmp_path.glob(".*"))             # no temporary file left
    train_spatial_vae(part, edges, epochs=400, progress=False, checkpoint=ckpt, resume=True)
    assert np.allclose(part.obsm["X_spatial_vae"], full.obsm["X_spatial_vae"], atol=1e-5)


class _RunsCodeWhenUnpickled:
    "A pickle payload: unpickling it creates a marker file (a stand-in for any code an attacker chooses)."
    def __init__(self, marker): self.marker = str(marker)
    def __reduce__(self): return (Path(self.marker).touch, ())


def test_model_and_checkpoint_files_cannot_run_code(small, tmp_path):
    from spatial_vae.training import load_model
    adata, edges = small
    marker = tmp_path / "code_ran"
    crafted = tmp_path / "model.pt"
    torch.save({"config": {"n_input": 4}, "state_dict": {}, "metadata": _RunsCodeWhenUnpickled(marker)}, crafted)
    with pytest.raises(ValueError, match="cannot read model .*model.pt"):
        load_model(crafted)
    ckpt = tmp_path / "ckpt.pt"
    torch.save({"state_dict": {}, "epoch": 1, "history": _RunsCodeWhenUnpickled(marker)}, ckpt)
    with pytest.raises(ValueError, match="cannot read checkpoint .*ckpt.pt"):
        train_spatial_vae(adata.copy(), edges, epochs=2, progress=False, checkpoint=ckpt, resume=True)
    assert not marker.exists()                       # neither file ran its payload


@pytest.mark.parametrize("name", ["../../escaped", "No_such_dataset"])
def test_unknown_dataset_name_leaves_no_folder(tmp_path, name):
    cache = tmp_path / "cache" / "inner"
    with pytest.raises(ValueError, match="unknown dataset"):
        download_visium(name, cache_dir=cache, progress=False)
    assert not (tmp_path / "cache").exists() and not (tmp_path / "escaped").exists()


@pytest.fixture(scope="module")
def quick_result():
    "A finished run on the built-in section (a few epochs, one model): what write_outputs gets."
    from spatial_vae.pipeline import run_pipeline
    return run_pipeline(None, epochs=5, ensemble=1, progress=False)


def _fingerprint(folder: Path) -> dict:
    return {p.name: md5(p) for p in sorted(folder.iterdir())}


def test_second_run_into_a_locked_folder_is_refused(quick_result, tmp_path, capsys):
    import subprocess, sys
    from spatial_vae.cli import main
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / ".run.lock").write_text(str(holder.pid))          # a run in another process holds the folder
        assert main(["run", "--out", str(out), "--epochs", "5", "--ensemble", "1", "--quiet"]) == 2
        assert f"process {holder.pid}" in capsys.readouterr().err and not out.exists()
    finally: holder.kill(); holder.wait()
    from spatial_vae.pipeline import write_outputs                    # its process is gone: the lock is stale and taken over
    write_outputs(quick_result, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]      # lock released, nothing else left beside


def test_failed_overwrite_keeps_the_previous_set_whole(quick_result, tmp_path, monkeypatch):
    import errno
    import spatial_vae.pipeline as pipeline
    out = tmp_path / "run"
    pipeline.write_outputs(quick_result, out)
    before = _fingerprint(out)
    from spatial_vae.training import load_model                       # the model file a run writes loads without pickle
    assert load_model(out / "model.pt").config == quick_result.training.model.config
    def full_disk(*a, **k): raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(pipeline, "save_model", full_disk)             # fails after the pictures and the .h5ad are written
    with pytest.raises(OSError, match=r"cannot write to .*run: disk full; the previous results there are unchanged"):
        pipeline.write_outputs(quick_result, out, overwrite=True)
    assert _fingerprint(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]      # no staging folder, no lock


def test_leftovers_of_a_killed_swap_are_repaired(quick_result, tmp_path):
    import spatial_vae.pipeline as pipeline
    from spatial_vae.outputs import prepare_output_dir
    out = tmp_path / "run"
    pipeline.write_outputs(quick_result, out)
    before = _fingerprint(out)
    dead = 2**22 + 1                                                  # above Linux's pid_max default: no such process
    out.rename(tmp_path / f".run.old-{dead}")                         # killed between the two renames of a swap
    (tmp_path / f".run.staging-{dead}").mkdir()                       # and a half-written staging folder
    with pytest.warns(UserWarning, match="restored the previous results"), pytest.raises(FileExistsError, match="not empty"):
        prepare_output_dir(out)            # the repair comes first; then the folder holds results again
    assert _fingerprint(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_output_folder_holding_an_input_is_refused(tmp_path, capsys):
    from spatial_vae.cli import main
    from spatial_vae.data import synthetic_visium
    out = tmp_path / "run"; out.mkdir()
    synthetic_visium(n_rows=10, n_cols=10, n_genes=100).write_h5ad(out / "spatial_vae.h5ad")
    before = md5(out / "spatial_vae.h5ad")
    assert main(["run", "--data", str(out / "spatial_vae.h5ad"), "--out", str(out), "--overwrite", "--quiet"]) == 2
    assert "holds the input" in capsys.readouterr().err and md5(out / "spatial_vae.h5ad") == before


def test_cli_ctrl_c_keeps_checkpoints_and_resume_repeats_the_result(tmp_path, monkeypatch, capsys):
    import json
    import anndata as ad
    from spatial_vae.cli import main
    # full batch (the built-in section's 1,600 spots in one batch): one optimiser step per epoch, 60 per model
    args = ["run", "--epochs", "60", "--batch-size", "2000", "--ensemble", "2", "--n-domains", "5", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "full")]) == 0
    steps, adam_step = [], Adam.step
    def step_then_ctrl_c(self, *a, **k):
        out = adam_step(self, *a, **k); steps.append(1)
        if len(steps) == 90: os.kill(os.getpid(), signal.SIGINT)       # Ctrl-C in the second model (60 steps each)
        return out
    monkeypatch.setattr(Adam, "step", step_then_ctrl_c)
    assert main([*args, "--out", str(tmp_path / "part")]) == 130
    assert "run the same command with --resume" in capsys.readouterr().err
    monkeypatch.undo()
    kept = tmp_path / ".part.checkpoints"
    assert (kept / "model0.pt").is_file() and (kept / "model1.pt").is_file() and not (tmp_path / "part").exists()
    changed = [a if a != "60" else "61" for a in args]
    assert main([*changed, "--out", str(tmp_path / "part"), "--resume"]) == 2       # other settings: refused, kept
    assert "other settings" in capsys.readouterr().err and kept.is_dir()
    assert main([*args, "--out", str(tmp_path / "part"), "--resume"]) == 0
    assert not kept.exists()                                                        # done: nothing left to resume
    metrics = [json.loads((tmp_path / r / "metrics.json").read_text()) for r in ("full", "part")]
    assert metrics[0]["ari"] == metrics[1]["ari"] and metrics[0]["final_loss"] == metrics[1]["final_loss"]
    labels = [ad.read_h5ad(tmp_path / r / "spatial_vae.h5ad").obs["spatial_vae_domain"] for r in ("full", "part")]
    assert labels[0].equals(labels[1])


def test_unwritable_output_folder_is_refused_before_the_work(tmp_path, monkeypatch, capsys):
    import errno
    import spatial_vae.pipeline as pipeline
    from spatial_vae.cli import main
    write_bytes = Path.write_bytes
    def denied(self, data):   # the tests run as root, where chmod denies nothing: the probe's write is refused instead
        if ".probe-" in self.name: raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return write_bytes(self, data)
    monkeypatch.setattr(Path, "write_bytes", denied)
    def no_work(*a, **k): raise AssertionError("the work started before the folder was checked")
    monkeypatch.setattr(pipeline, "load_section", no_work)
    assert main(["run", "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"cannot write to {tmp_path}: permission denied" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == []                  # no probe, no lock left
