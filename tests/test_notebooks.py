"""Every notebook runs top to bottom (nbdev's test runner executes the code and the test cells under it).

The chapters 00-05 and index run here, the workflow chapters (06 onwards) and the report template in
test_notebooks_workflow.py: pytest-xdist's loadfile keeps a file on one worker, so two files use both cores.
Each group runs in one process, on settings.ini with fewer epochs and models (QUICK_SETTINGS)."""
import configparser
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

NBS = Path(__file__).resolve().parent.parent / "nbs"
NOTEBOOKS = sorted(p.name for p in NBS.glob("*.ipynb") if not p.name.startswith("_"))


def test_every_chapter_is_here():
    for chapter in ("00_data", "01_graph", "02_model", "03_loss", "04_training", "05_domains", "05_evaluation", "09_distributed", "index"):
        assert f"{chapter}.ipynb" in NOTEBOOKS


WORKFLOW = [n for n in NOTEBOOKS if n[:2].isdigit() and n >= "06"] + ["report_template.ipynb"]
CHAPTERS = [n for n in NOTEBOOKS if n not in WORKFLOW]


# the chapters' "your section" runs read settings.ini; under test they train fewer epochs and models, as they check the
# workflow, not the defaults' quality (tests/test_method.py and tests/test_real_data.py run the defaults)
QUICK_SETTINGS = {"training": {"epochs": "60", "ensemble": "2"}}


def quick_settings(folder: Path) -> Path:
    "The project's settings.ini with QUICK_SETTINGS applied, written into `folder`."
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(NBS.parent / "settings.ini")
    for section, values in QUICK_SETTINGS.items():
        for name, value in values.items():
            assert parser.has_option(section, name), f"settings.ini has no [{section}] {name}"
            parser[section][name] = value
    path = folder / "settings.ini"
    with open(path, "w") as f: parser.write(f)
    return path


def run_notebooks(notebooks: list[str]) -> None:
    """Run `notebooks` with nbdev-test one after another in one process (imports and numba's compiled UMAP are paid
    once), on the quick settings; fail with the tail of the output, which names the failing notebook and cell."""
    nbdev_test = Path(sys.executable).parent / "nbdev-test"
    pattern = "^(" + "|".join(re.escape(n) for n in notebooks) + ")$"
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, SPATIAL_VAE_SETTINGS=str(quick_settings(Path(tmp))))
        run = subprocess.run([str(nbdev_test), "--file-re", pattern, "--n-workers", "0", "--timing", "--cell-timing-min", "20"],
                             cwd=NBS.parent, capture_output=True, text=True, timeout=1500, env=env)
    assert run.returncode == 0, f"{notebooks} failed:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    print(run.stdout)                                     # each notebook's seconds and the slow cells (pytest -rP shows them)
    timed = set(re.findall(r"^(\S+\.ipynb): \d+ secs$", run.stdout, re.M))
    assert timed == set(notebooks), f"nbdev-test ran {sorted(timed)}, expected {notebooks}"


def test_notebooks_are_split_between_the_two_files():
    assert "06_pipeline.ipynb" in WORKFLOW and "report_template.ipynb" in NOTEBOOKS
    assert set(NOTEBOOKS) == set(CHAPTERS) | set(WORKFLOW)


def test_chapters_run():
    run_notebooks(CHAPTERS)


@pytest.mark.parametrize("notebook", [n for n in NOTEBOOKS if n[:2].isdigit() and (n < "06" or n >= "09")] + ["report_template.ipynb"])
def test_chapter_has_papermill_parameters(notebook):
    "papermill needs one cell tagged `parameters` with at least the data and the seed."
    import json
    cells = json.loads((NBS / notebook).read_text())["cells"]
    tagged = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1, f"{notebook}: {len(tagged)} cells tagged 'parameters'"
    source = "".join(tagged[0]["source"])
    assert "data = " in source and "seed = " in source


@pytest.mark.parametrize("notebook", [n for n in NOTEBOOKS if n[:2].isdigit() and (n < "06" or n >= "09")] + ["report_template.ipynb"])
def test_papermill_reads_every_parameter(notebook, caplog):
    "papermill parses each line of the parameters cell: a line it cannot parse is dropped, and the parameter silently ignored."
    import json
    import logging
    import papermill as pm
    with caplog.at_level(logging.WARNING):
        found = set(pm.inspect_notebook(str(NBS / notebook)))
    assert not [r.message for r in caplog.records if "Unable to parse" in r.message]
    cells = json.loads((NBS / notebook).read_text())["cells"]
    source = "".join(next(c for c in cells if "parameters" in c["metadata"].get("tags", []))["source"])
    assigned = set(re.findall(r"^(\w+)\s*=", source, re.M))
    assert assigned == found, f"{notebook}: papermill sees {sorted(found)}, the cell assigns {sorted(assigned)}"


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_is_stored_as_jupyter_writes_it(notebook):
    "Opening a chapter in JupyterLab and saving it changes nothing: the file is nbformat's own serialisation."
    import nbformat
    text = (NBS / notebook).read_text(encoding="utf-8")
    assert nbformat.writes(nbformat.reads(text, as_version=4)) + "\n" == text, \
        f"{notebook} differs from what Jupyter would save; normalise it with nbformat.write(nbformat.read(f, 4), f)"


PARAMETERISED = [n for n in NOTEBOOKS if n[:2].isdigit() and (n < "06" or n >= "09")]


@pytest.mark.parametrize("notebook", PARAMETERISED)
def test_a_chapter_for_a_section_keeps_definitions_and_its_own_part(notebook):
    "`report --chapter`: every export cell and the part from the parameters cell's heading on; no example cell before it."
    import nbformat
    from spatial_vae.report import _defines_only, chapter_for_section
    whole = nbformat.read(NBS / notebook, as_version=4)
    start = next(i for i, c in enumerate(whole.cells) if "parameters" in c.metadata.get("tags", []))
    trimmed = [c.source for c in chapter_for_section(NBS / notebook).cells]
    exports = [c.source for c in whole.cells if c.cell_type == "code" and "#| export" in c.source]
    examples = [c.source for c in whole.cells[:start] if c.cell_type == "code" and not _defines_only(c)]
    assert exports and set(exports) <= set(trimmed) and [c.source for c in whole.cells[start:]] == trimmed[-(len(whole.cells) - start):]
    assert examples and not set(examples) & set(trimmed), f"{notebook}: worked examples kept"


def test_a_chapter_runs_on_a_section_without_its_examples(tmp_path, monkeypatch):
    "`spatial-vae report --chapter` on a section given by a relative path: the chapter's own part runs, the examples do not."
    import json
    from spatial_vae.cli import main
    from spatial_vae.data import synthetic_visium
    monkeypatch.setenv("SPATIAL_VAE_SETTINGS", str(quick_settings(tmp_path)))
    monkeypatch.chdir(tmp_path)
    synthetic_visium(24, 24, n_genes=200, seed=4).write_h5ad("mine.h5ad")
    assert main(["report", "--chapter", str(NBS / "05_evaluation.ipynb"), "--data", "mine.h5ad", "--n-domains", "5",
                 "--out", "reports", "--quiet"]) == 0
    folder = tmp_path / "reports" / "05_evaluation_mine"
    cells = json.loads((folder / "report.ipynb").read_text())["cells"]
    injected = next(c for c in cells if "injected-parameters" in c["metadata"].get("tags", []))
    assert str(tmp_path / "mine.h5ad") in "".join(injected["source"])         # the relative path, read from where the command ran
    outputs = [o for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs)             # the section's map and UMAP were drawn
    assert not [o for o in outputs if o.get("output_type") == "error" or o.get("name") == "stderr"]
    assert "synthetic_visium()" not in json.dumps([c["source"] for c in cells])   # the built-in examples were left out
    assert main(["report", "--chapter", str(NBS / "06_pipeline.ipynb"), "--out", "reports"]) == 2   # no part for a section


def test_a_chapter_whose_part_starts_it_is_not_doubled(tmp_path):
    "A notebook whose first cell is the parameters cell: kept once, so papermill's injected values are not reset."
    import nbformat
    from spatial_vae.report import chapter_for_section
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                                         nbformat.v4.new_code_cell("print(x)")])
    nbformat.write(nb, tmp_path / "c.ipynb")
    cells = chapter_for_section(tmp_path / "c.ipynb").cells
    assert [c.source for c in cells[1:]] == ["x = 1", "print(x)"] and "the other 0 cells" in cells[0].source
