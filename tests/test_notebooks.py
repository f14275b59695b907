"""Every notebook runs top to bottom (nbdev's test runner executes the code and the test cells under it).

The chapters 00-05 and index run here, the workflow chapters (06 onwards) and the report template in
test_notebooks_workflow.py: pytest-xdist's loadfile keeps a file on one worker, so two files use both cores."""
import subprocess
import sys
from pathlib import Path

import pytest

NBS = Path(__file__).resolve().parent.parent / "nbs"
NOTEBOOKS = sorted(p.name for p in NBS.glob("*.ipynb") if not p.name.startswith("_"))


def test_every_chapter_is_here():
    for chapter in ("00_data", "01_graph", "02_model", "03_loss", "04_training", "05_evaluation", "09_distributed", "index"):
        assert f"{chapter}.ipynb" in NOTEBOOKS


WORKFLOW = [n for n in NOTEBOOKS if n[:2].isdigit() and n >= "06"] + ["report_template.ipynb"]
CHAPTERS = [n for n in NOTEBOOKS if n not in WORKFLOW]


def run_notebook(notebook: str) -> None:
    "Run one notebook with nbdev-test; fail with the tail of its output."
    nbdev_test = Path(sys.executable).parent / "nbdev-test"
    run = subprocess.run([str(nbdev_test), "--file-glob", notebook], cwd=NBS.parent, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, f"{notebook} failed:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"


def test_notebooks_are_split_between_the_two_files():
    assert "06_pipeline.ipynb" in WORKFLOW and "report_template.ipynb" in NOTEBOOKS
    assert set(NOTEBOOKS) == set(CHAPTERS) | set(WORKFLOW)


@pytest.mark.parametrize("notebook", CHAPTERS)
def test_notebook_runs(notebook):
    run_notebook(notebook)


@pytest.mark.parametrize("notebook", [n for n in NOTEBOOKS if n[:2].isdigit() and (n < "06" or n >= "09")] + ["report_template.ipynb"])
def test_chapter_has_papermill_parameters(notebook):
    "papermill needs one cell tagged `parameters` with at least the data and the seed."
    import json
    cells = json.loads((NBS / notebook).read_text())["cells"]
    tagged = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1, f"{notebook}: {len(tagged)} cells tagged 'parameters'"
    source = "".join(tagged[0]["source"])
    assert "data = " in source and "seed = " in source
