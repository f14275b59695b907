"""Build the docs site offline: nbdev's notebook processing, then smalldocs renders it (Quarto is not needed).

    uv run python tools/docs.py            # -> _proc/_docs/index.html; preview with python -m http.server -d _proc/_docs

`nbdev-proc-nbs` does the same processing but first checks for Quarto and, where it is missing, tries to install
it with sudo; this script takes nbdev's steps without that check. The sidebar is nbs/sidebar.yml as written
(pyproject's custom_sidebar = true): the chapters only.
"""
import os
import subprocess
import sys
from pathlib import Path

from nbdev.config import get_config
from nbdev.doclinks import _build_modidx
from nbdev.quarto import refresh_quarto_yml
from nbdev.serve import proc_nbs


def main() -> int:
    cfg = get_config()
    os.chdir(cfg.config_path)
    refresh_quarto_yml()                       # nbs/nbdev.yml from pyproject.toml
    _build_modidx()                            # the index that links backticked names to their API entries
    proc_nbs(cfg.nbs_path, n_workers=0)        # notebooks -> _proc/ (show_doc cells run, hidden cells dropped)
    smalldocs = Path(sys.executable).parent / "smalldocs"
    return subprocess.run([str(smalldocs), "render", "--quiet", "_proc"]).returncode


if __name__ == "__main__":
    sys.exit(main())
