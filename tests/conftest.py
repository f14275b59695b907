"Shared fixtures: the real-data folder (skip with a reason when absent) and a small trained synthetic section."
import os
import warnings
from pathlib import Path

import pytest

from spatial_vae.data import shared_data_dir

os.environ.setdefault("MPLBACKEND", "Agg")
warnings.filterwarnings("ignore", category=FutureWarning)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    "The real Visium data folder (`$SPATIAL_VAE_SHARED_DATA` or ../shared/data)."
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real data folder {path} is absent; set SPATIAL_VAE_SHARED_DATA to the shared data folder")
    return path
