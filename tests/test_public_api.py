"""The public API: every public submodule is reachable after ``import nanograd_ad``, and no
top-level name shadows a NumPy one (``ng.stack`` did)."""

import pkgutil

import numpy as np

import nanograd_ad as ng


def test_every_public_submodule_is_an_attribute_after_import():
    names = [m.name for m in pkgutil.iter_modules(ng.__path__) if not m.name.startswith("_")]
    assert "datasets" in names and "train" in names
    missing = [name for name in names if not hasattr(ng, name)]
    assert missing == [], f"not reachable as nanograd_ad.<name>: {missing}"
    # gradcheck is the function (the module stays importable as nanograd_ad.gradcheck)
    assert callable(ng.gradcheck) and ng.datasets.__name__ == "nanograd_ad.datasets"


def test_no_top_level_name_shadows_numpy():
    shadowing = sorted(set(ng.__all__) & set(dir(np)))
    assert shadowing == [], f"top-level names that shadow NumPy's: {shadowing}"
    assert not hasattr(ng, "stack") and callable(ng.ensemble.stack)


def test_all_names_exist():
    assert [name for name in ng.__all__ if not hasattr(ng, name)] == []
