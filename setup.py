"""Packaging that pyproject.toml cannot say: the top-level `config/` folder (kept there so it is easy to find
and edit in a checkout) ships inside the wheel as the package `syncworker.defaults`, so an installed
syncworker finds its default settings wherever it runs. Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["syncworker*", "adapters*", "simulators*"]), "syncworker.defaults"],
    package_dir={"syncworker.defaults": "config"},
)
