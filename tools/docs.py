"""Build the docs site offline: nbdev's notebook processing, then smalldocs renders it (Quarto is not needed).

    uv run python tools/docs.py            # -> _proc/_docs/index.html; preview with python -m http.server -d _proc/_docs

`nbdev-proc-nbs` does the same processing but first checks for Quarto and, where it is missing, tries to install
it with sudo; this script takes nbdev's steps without that check. The sidebar is nbs/sidebar.yml as written
(pyproject's custom_sidebar = true): the chapters only. A name in backticks links to its API entry through the
index of names written to _proc/_symbols.json.
"""
import json
import os
import shutil
import re
import subprocess
import sys
from pathlib import Path

from nbdev.config import get_config
from nbdev.doclinks import _build_modidx
from nbdev.quarto import refresh_quarto_yml
from nbdev.serve import proc_nbs


def symbol_index(lib: Path) -> dict[str, str]:
    "Each public name of the package -> its entry on its chapter's page (`05_domains.html#match_labels`), for smalldocs's links."
    from spatial_vae._modidx import d
    index = {}
    for module, symbols in d["syms"].items():
        source = (lib / (module.split(".", 1)[1].replace(".", "/") + ".py")).read_text(encoding="utf-8")
        chapter = re.search(r"File to edit: \.\./nbs/(\S+)\.ipynb", source)
        if not chapter: continue
        for name, (url, _) in symbols.items():
            short = name[len(module) + 1:]
            if not short.split(".")[-1].startswith("_"): index[short] = f"{chapter.group(1)}.html#{url.split('#', 1)[1]}"
    return index


def main() -> int:
    cfg = get_config()
    os.chdir(cfg.config_path)
    refresh_quarto_yml()                       # nbs/nbdev.yml from pyproject.toml
    _build_modidx()                            # the index that links backticked names to their API entries
    proc_nbs(cfg.nbs_path, n_workers=0)        # notebooks -> _proc/ (show_doc cells run, hidden cells dropped)
    # the home page shows the benchmark's figure by its path from the repository root (as README.md does)
    (Path("_proc") / "bench").mkdir(exist_ok=True)
    shutil.copy2(Path("bench") / "domains.png", Path("_proc") / "bench" / "domains.png")
    # backticked names link to their entries: smalldocs reads _symbols.json where _quarto.yml says linkify: true
    (Path("_proc") / "_symbols.json").write_text(json.dumps(symbol_index(cfg.lib_path), indent=1, sort_keys=True))
    smalldocs = Path(sys.executable).parent / "smalldocs"
    return subprocess.run([str(smalldocs), "render", "--quiet", "_proc"]).returncode


if __name__ == "__main__":
    sys.exit(main())
