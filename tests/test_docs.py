"The docs site builds offline (nbdev-proc-nbs + smalldocs) and its pages show content and pictures in headless Chromium."
import functools
import http.server
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def site():
    "Build the site from the notebooks and serve it on localhost."
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "docs.py")], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, f"tools/docs.py failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    assert "sudo" not in run.stdout + run.stderr and "Quarto is not installed" not in run.stdout + run.stderr
    docs = ROOT / "_proc" / "_docs"
    assert (docs / "index.html").is_file()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(docs))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_every_exported_function_is_documented(site):
    "Each exported name has its signature and docstring on its chapter's page."
    import importlib
    import inspect
    from spatial_vae._modidx import d
    pages = {p.name: p.read_text() for p in (ROOT / "_proc" / "_docs").glob("*.html")}
    for module, symbols in d["syms"].items():
        mod = importlib.import_module(module)
        # nbdev names the page after the module (Quarto honours it); smalldocs keeps the notebook's name: NN_module.html
        page = next(text for name, text in pages.items() if name.endswith(module.split(".")[-1] + ".html"))
        for name in symbols:
            obj = mod
            for part in name.split(".")[1 + module.count("."):]: obj = getattr(obj, part)
            if not callable(obj) or name.split(".")[-1].startswith("_") or "." in name[len(module) + 1:]: continue
            assert inspect.getdoc(obj), f"{name} has no docstring"
            assert name.split(".")[-1] in page, f"{name} missing from its page"
            assert _letters(inspect.getdoc(obj).splitlines()[0])[:40] in _letters(page), f"docstring of {name} not on its page"


def _letters(text: str) -> str:
    "Only letters and digits of the visible text: quotes, code marks and HTML escapes differ between renderers."
    import html
    import re
    return re.sub(r"[^A-Za-z0-9]", "", html.unescape(re.sub(r"<[^>]+>", "", text)))


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM:
        pytest.skip("no chromium on this machine: install Debian's chromium (.ci/run does) to check the docs in a browser")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu",
                              "--disable-background-networking", "--disable-component-update", "--no-first-run"])
        yield b
        b.close()


def _images(page):
    "(src, naturalWidth) of every image on the page, after they have loaded."
    page.wait_for_load_state("load")
    return page.eval_on_selector_all("img", "els => els.map(e => [e.src, e.naturalWidth])")


def test_home_page(site, browser):
    page = browser.new_page()
    page.goto(f"{site}/index.html")
    assert "spatial_vae" in page.title()
    text = page.inner_text("body")
    assert "uv run main.py" in text and "uv run pytest" in text
    images = _images(page)
    assert images and all(width > 0 for _, width in images), images      # the quick-start domain map


def test_domains_and_evaluation_chapters(site, browser):
    page = browser.new_page()
    page.goto(f"{site}/05_evaluation.html")
    text = page.inner_text("body")
    for name in ("score_domains", "spatial_coherence", "plot_spatial_domains", "latent_umap"):
        assert name in text
    images = _images(page)
    assert len(images) >= 2 and all(width > 0 for _, width in images), images
    wrap = page.eval_on_selector("pre", "e => getComputedStyle(e).whiteSpace")
    assert wrap == "pre-wrap", wrap                                                    # long signatures wrap (nbs/styles.css)
    page.goto(f"{site}/05_domains.html")
    assert all(name in page.inner_text("body") for name in ("find_domains", "consensus_domains", "coarser_domains"))
    links = dict(page.eval_on_selector_all("a:has(> code)", "els => els.map(e => [e.innerText, e.getAttribute('href')])"))
    assert links.get("match_labels") == "05_domains.html#match_labels", links             # a backticked name links to its entry
    assert links.get("train_spatial_vae") == "04_training.html#train_spatial_vae", links  # and across chapters


def test_sidebar_lists_the_chapters_and_nothing_else(site, browser):
    "The sidebar holds the home page, then the numbered chapters: no raw YAML, no report template page."
    page = browser.new_page()
    page.goto(f"{site}/05_evaluation.html")
    links = page.eval_on_selector_all("#quarto-sidebar a[href$='.html']", "els => els.map(e => e.getAttribute('href'))")
    chapters = sorted(p.stem for p in (ROOT / "nbs").glob("[0-9]*.ipynb"))
    assert links[0] == "index.html" and sorted(links[1:]) == [f"{c}.html" for c in chapters], links
    assert not [l for l in links if "yml" in l or "report_template" in l]


def test_public_parameters_are_annotated():
    "Every parameter of a public function has a type: the docs' parameter tables show it (an unannotated None shows as NoneType)."
    import importlib
    import inspect
    import typing
    missing = []
    for path in sorted((ROOT / "spatial_vae").glob("[a-z]*.py")):
        module = importlib.import_module(f"spatial_vae.{path.stem}")
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if not inspect.isfunction(obj): continue
            typing.get_type_hints(obj)                                   # every annotation resolves
            missing += [f"{path.stem}.{name}({p.name})" for p in inspect.signature(obj).parameters.values()
                        if p.annotation is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    assert not missing, missing
