"""Build glue for one thing pyproject.toml cannot say: the repository's ``lessons/`` folder
ships as the package data ``nanograd_ad.lessons`` (so ``nanograd-ad lessons`` works from a
regular or an editable install), while every package under ``nanograd_ad/`` is still found
automatically. Everything else lives in pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["nanograd_ad", "nanograd_ad.*"]), "nanograd_ad.lessons"],
    package_dir={"nanograd_ad.lessons": "lessons"},
)
