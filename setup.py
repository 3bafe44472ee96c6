"""Package list for setuptools (all other metadata is in pyproject.toml).

The source folder ``integrations/`` is installed as ``wavelayers_integrations`` so that the wheel never
claims the generic top-level name ``integrations``; every sub-package is found here, so a new one needs
no edit.
"""
from setuptools import find_packages, setup

CORE = find_packages(include=["wavelayers", "wavelayers.*"])
INTEGRATIONS = ["wavelayers_integrations" + p[len("integrations"):]
                for p in find_packages(include=["integrations", "integrations.*"])]

setup(packages=CORE + INTEGRATIONS, package_dir={"wavelayers_integrations": "integrations"})
