"Shared fixtures: the real-data folder (skip with a reason when absent) and a small trained synthetic section."
import os
import warnings
from pathlib import Path

# one BLAS/OpenMP thread per test process (and the notebook kernels they start): pytest runs two workers on two cores,
# and small BLAS calls with two threads each beside a busy core ran ~10x slower; set before numpy loads
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import pytest
from threadpoolctl import threadpool_limits

from spatial_vae.data import shared_data_dir

threadpool_limits(1)   # numpy may have loaded before this file (a plugin): limit the live pools too
os.environ.setdefault("MPLBACKEND", "Agg")
warnings.filterwarnings("ignore", category=FutureWarning)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    "The real Visium data folder (`$SPATIAL_VAE_SHARED_DATA` or ../shared/data)."
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real data folder {path} is absent; set SPATIAL_VAE_SHARED_DATA to the shared data folder")
    return path


def pytest_collection_modifyitems(items):
    """The notebook tests first: they are the longest, so pytest-xdist starts them on both workers at once and fills in
    around them (pyproject's --no-loadscope-reorder keeps this order; by default xdist starts the files with most tests)."""
    items.sort(key=lambda item: "test_notebooks" not in item.nodeid)      # a stable sort keeps the rest in order
