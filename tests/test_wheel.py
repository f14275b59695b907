"The built wheel works outside the repository: `spatial-vae run` and `spatial-vae report` on the built-in section."
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtual environment, outside the repository, with the wheel installed from a fresh build.

    The dependencies (torch, scanpy, ...) are not downloaded again: a .pth line lets the new environment import the
    project environment's packages. spatial_vae itself comes only from the wheel: the project environment's editable
    install is a .pth of its own, which Python does not follow from a path added this way. The dependencies' data
    files (nbconvert's HTML templates) are found through JUPYTER_PATH, as an install with dependencies would have them."""
    uv = shutil.which("uv")
    assert uv, "uv is needed to build and install the wheel (README: install uv, then `uv sync`)"
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"   # a copy (links followed), so that setuptools' build/ and .egg-info stay out of the checkout
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "bench", "build", "_docs", "_proc", "*.egg-info",
                                                              "__pycache__", ".pytest_cache", "reports", "spatial_vae_output"))
    subprocess.run([uv, "build", "--wheel", "--out-dir", str(tmp / "dist"), str(src)], check=True, capture_output=True)
    wheel = next((tmp / "dist").glob("spatial_vae-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert {"spatial_vae/settings.ini", "spatial_vae/report_template.ipynb"} <= set(names), names
    venv = tmp / "venv"
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([uv, "pip", "install", "--quiet", "--no-deps", "--python", str(python), str(wheel)], check=True)
    return venv


def _run(venv: Path, *args, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SPATIAL_VAE_SETTINGS", "PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")   # nbconvert's templates: data files of a dependency
    return subprocess.run([str(venv / "bin" / "spatial-vae"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def test_installed_package_is_the_wheel(installed, tmp_path):
    out = subprocess.run([installed / "bin" / "python", "-c", "import spatial_vae; print(spatial_vae.__file__)"],
                         cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert str(installed) in out and str(ROOT) not in out


def test_run_and_report_from_the_installed_wheel(installed, tmp_path):
    run = _run(installed, "run", "--out", str(tmp_path / "run"), "--epochs", "5", "--ensemble", "1", "--quiet", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["n_spots"] > 0 and metrics["settings"]["training"]["epochs"] == 5
    report = _run(installed, "report", "--out", str(tmp_path / "reports"), "--epochs", "5", "--quiet", cwd=tmp_path)
    assert report.returncode == 0, (report.stdout + report.stderr)[-3000:]
    assert (tmp_path / "reports" / "synthetic" / "report.html").is_file()
