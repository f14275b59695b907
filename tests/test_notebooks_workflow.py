"The workflow notebooks (pipeline, CLI, report, distributed) and the report template run top to bottom; see test_notebooks.py."
import pytest

from test_notebooks import WORKFLOW, run_notebook


@pytest.mark.parametrize("notebook", WORKFLOW)
def test_workflow_notebook_runs(notebook):
    run_notebook(notebook)
