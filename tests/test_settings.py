"Each default is written once, in settings.ini: function signatures take theirs from it (`uses_settings`)."
import importlib
import inspect
import pkgutil

import numpy as np
import pytest

import spatial_vae
from spatial_vae.settings import SETTINGS_ENV, read_settings, resolved_defaults, settings_path

# parameters that share a settings name but are not that setting, with the reason
NOT_SETTINGS = {
    ("data", "synthetic_visium", "n_domains"): "how many domains to simulate, not how many to find",
    ("data", "synthetic_visium", "seed"): "the simulated data's seed",
    ("data", "synthetic_hd", "n_domains"): "how many domains to simulate, not how many to find",
    ("data", "synthetic_hd", "seed"): "the simulated data's seed",
    ("domains", "find_domains", "n_neighbors"): "Leiden's kNN graph in the embedding, not the spatial graph",
    ("domains", "find_domains", "extra_components"): "one fit's spare count; settings' extra_components is the vote's list",
    ("domains", "fit_sample", "seed"): "the sample's seed, given by each caller",
    ("evaluation", "plot_spatial_domains", "seed"): "which spots a large map draws",
    ("distributed", "train_distributed", "workers"): "DDP needs two or more; settings' 1 means no DDP",
}


def _public_callables():
    for info in pkgutil.iter_modules(spatial_vae.__path__):
        if info.name.startswith("_"): continue
        module = importlib.import_module(f"spatial_vae.{info.name}")
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__: continue
            if inspect.isfunction(obj) or inspect.isclass(obj): yield info.name, name, obj


def test_no_default_is_written_twice():
    names = {key for section in read_settings().values() for key in section}
    repeated = []
    for module, name, obj in _public_callables():
        try: parameters = inspect.signature(obj).parameters
        except (TypeError, ValueError): continue
        renamed = getattr(obj.__init__ if inspect.isclass(obj) else obj, "settings_renamed", {})
        for p in parameters.values():
            if (p.name in names or p.name in renamed) and p.default not in (inspect.Parameter.empty, None) \
                    and (module, name, p.name) not in NOT_SETTINGS:
                repeated.append(f"{module}.{name}({p.name}={p.default!r})")
    assert not repeated, f"defaults written again outside settings.ini (use uses_settings and None): {repeated}"


def test_every_settings_parameter_resolves():
    "A None that stands for a setting is filled: the function is decorated and names the right section."
    names = {key for section in read_settings().values() for key in section}
    unresolved = []
    for module, name, obj in _public_callables():
        func = obj.__init__ if inspect.isclass(obj) else obj
        if not hasattr(func, "settings_sections"): continue
        for key, value in resolved_defaults(func).items():
            if value is None and (key in names or key in func.settings_renamed): unresolved.append(f"{module}.{name}({key})")
    assert not unresolved, unresolved


def test_training_defaults_are_the_settings():
    s = read_settings()
    from spatial_vae.training import train_spatial_vae
    d = resolved_defaults(train_spatial_vae)
    for section in ("model", "loss", "training"):
        for key, value in s[section].items():
            if key in d: assert d[key] == value, (key, d[key], value)


def test_a_settings_file_of_ones_own_changes_the_functions(tmp_path, monkeypatch):
    from spatial_vae.data import preprocess, synthetic_visium
    from spatial_vae.graph import spatial_edges
    from spatial_vae.training import train_spatial_vae
    own = tmp_path / "settings.ini"
    text = settings_path().read_text()
    for old, new in (("latent_dim = 32", "latent_dim = 5"), ("max_steps = 300", "max_steps = 7"), ("n_pcs = 50", "n_pcs = 12")):
        assert old in text, old
        text = text.replace(old, new)
    own.write_text(text)
    monkeypatch.setenv(SETTINGS_ENV, str(own))
    adata = synthetic_visium(12, 12, n_genes=100, seed=0)
    preprocess(adata)
    assert adata.obsm["X_pca"].shape[1] == 12
    result = train_spatial_vae(adata, spatial_edges(adata), progress=False)
    assert adata.obsm["X_spatial_vae"].shape[1] == 5 and len(result.steps) == 7


def test_options_and_report_parameters_are_made_from_the_settings():
    "CLI options and the report's parameters cell take type, help and default from settings.ini: none is written twice."
    import json
    from spatial_vae.cli import RUN_OPTIONS, build_parser, option_spec
    from spatial_vae.report import REPORT_OPTIONS, report_parameters_cell, report_template
    from spatial_vae.settings import setting_help
    helps = setting_help()
    for name in RUN_OPTIONS:
        kind, text = option_spec(name)
        assert text and text == helps["method" if name == "graph" else name]["help"], name
    assert set(REPORT_OPTIONS) <= set(RUN_OPTIONS)
    assert all(option_spec(n)[0] is float for n in ("beta", "lambda_spatial", "learning_rate", "resolution"))   # 0.5 must parse
    usage = build_parser().parse_args(["run", "--epochs", "7", "--extra-components", "0,2", "--n-domains", "auto"])
    assert (usage.epochs, usage.extra_components, usage.n_domains) == (7, (0, 2), "auto")   # typed as the settings are
    cells = json.loads(report_template().read_text())["cells"]
    cell = "".join(next(c for c in cells if "parameters" in c["metadata"].get("tags", []))["source"])
    assert cell == report_parameters_cell(), (
        "nbs/report_template.ipynb's parameters cell is generated: set its source to spatial_vae.report.report_parameters_cell()")
    assert all(f"{name} = None" in cell for name in REPORT_OPTIONS)     # settings.ini's value applies unless a report sets one
