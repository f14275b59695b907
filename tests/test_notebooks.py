"Every notebook runs top to bottom (nbdev's test runner executes the code and the test cells under it)."
import subprocess
import sys
from pathlib import Path

import pytest

NBS = Path(__file__).resolve().parent.parent / "nbs"
NOTEBOOKS = sorted(p.name for p in NBS.glob("*.ipynb") if not p.name.startswith("_"))


def test_every_chapter_is_here():
    for chapter in ("00_data", "01_graph", "02_model", "03_loss", "04_training", "05_evaluation", "09_distributed", "index"):
        assert f"{chapter}.ipynb" in NOTEBOOKS


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_runs(notebook):
    nbdev_test = Path(sys.executable).parent / "nbdev-test"
    run = subprocess.run([str(nbdev_test), "--file-glob", notebook], cwd=NBS.parent, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, f"{notebook} failed:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"


@pytest.mark.parametrize("notebook", [n for n in NOTEBOOKS if n[:2].isdigit() and (n < "06" or n >= "09")] + ["report_template.ipynb"])
def test_chapter_has_papermill_parameters(notebook):
    "papermill needs one cell tagged `parameters` with at least the data and the seed."
    import json
    cells = json.loads((NBS / notebook).read_text())["cells"]
    tagged = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1, f"{notebook}: {len(tagged)} cells tagged 'parameters'"
    source = "".join(tagged[0]["source"])
    assert "data = " in source and "seed = " in source
