"The workflow notebooks (pipeline, CLI, report, distributed) and the report template run top to bottom; see test_notebooks.py."
from test_notebooks import WORKFLOW, run_notebooks


def test_workflow_notebooks_run():
    run_notebooks(WORKFLOW)
