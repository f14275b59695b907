"""The home page's comparison table, generated from the recorded runs (bench/results/*.jsonl), never typed by hand.

One row per development section: spatial_vae's default (`default_preset(section)` in bench/run.py) beside the peers
that ran there, as mean ARI ± sd over runs (n), and the median over the sections where every column has runs. Writes
bench/headline.md and puts the same table into nbs/index.ipynb and nbs/05_evaluation.ipynb between the markers `<!-- headline:start -->` and
`<!-- headline:end -->` (then regenerate README.md from the notebook, as README.md says).

    uv run python bench/headline.py
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path

from run import SECTIONS, TUNED_ON, default_preset

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PAGES = [HERE.parent / "nbs" / "index.ipynb", HERE.parent / "nbs" / "05_evaluation.ipynb"]   # the home page, the evaluation chapter
START, END = "<!-- headline:start -->", "<!-- headline:end -->"
DEFAULT = "default"   # stands for default_preset(section) in COLUMNS
COLUMNS = {DEFAULT: "spatial_vae", "banksy": "BANKSY", "banksy_lam0.8": "BANKSY λ 0.8", "graphst": "GraphST",
           "spagcn": "SpaGCN", "stagate": "STAGATE", "pca_gmm": "PCA + GMM (no space)"}


def runs() -> dict[tuple[str, str], list[float]]:
    "ARI of every successful run, by (method, section)."
    out: dict[tuple[str, str], list[float]] = {}
    for name in ("spatial_vae.jsonl", "peers.jsonl"):   # the other files hold earlier defaults
        for line in (RESULTS / name).read_text().splitlines():
            r = json.loads(line)
            if r.get("status", "ok") == "ok" and r.get("ari") is not None:
                out.setdefault((r["method"], r["section"]), []).append(float(r["ari"]))
    return out


def table() -> str:
    "The markdown table."
    ari = runs()
    for s in SECTIONS:
        if (default_preset(s), s) in ari: ari[(DEFAULT, s)] = ari[(default_preset(s), s)]
    cols = [m for m in COLUMNS if any((m, s) in ari for s in SECTIONS)]
    cell = lambda v: "–" if not v else f"{statistics.mean(v):.3f} ± {statistics.stdev(v) if len(v) > 1 else 0:.3f} ({len(v)})"
    lines = ["| section | " + " | ".join(COLUMNS[m] for m in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for s in SECTIONS:
        name = s + (" (tuned on)" if s in TUNED_ON else "")
        lines.append(f"| {name} | " + " | ".join(cell(ari.get((m, s))) for m in cols) + " |")
    full = [m for m in cols if all((m, s) in ari for s in SECTIONS)]
    medians = {m: statistics.median(statistics.mean(ari[(m, s)]) for s in SECTIONS) for m in full}
    lines.append(f"| median over the {len(SECTIONS)} sections | " + " | ".join(f"{medians[m]:.3f}" if m in medians else ""
                                                                          for m in cols) + " |")
    return "\n".join(lines)


def write(text: str) -> None:
    "bench/headline.md, and the table between the markers in the home page's and chapter 05's notebooks."
    (HERE / "headline.md").write_text(f"{text}\n")
    for page in PAGES: write_between_markers(page, text)


def write_between_markers(path: Path, text: str, start: str = START, end: str = END) -> None:
    "Put `text` between the markers `start` ... `end` in the notebook at `path` (the one cell that holds both)."
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if start in src and end in src:
            head, rest = src.split(start, 1)
            src = f"{head}{start}\n{text}\n{end}{rest.split(end, 1)[1]}"
            cell["source"] = src.splitlines(keepends=True)
            break
    else:
        raise SystemExit(f"{path}: no cell holds the markers {start} ... {end}")
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    text = table()
    print(text)
    write(text)
