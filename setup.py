"""Package list for setuptools (all other metadata is in pyproject.toml).

The source folder ``integrations/`` is installed as ``wavelayers_integrations`` so that the wheel never
claims the generic top-level name ``integrations``; every sub-package is found here, so a new one needs
no edit.
"""
from setuptools import find_namespace_packages, setup

# namespace packages, so that the data folders (wavelayers/csrc, integrations/lic/shipped,
# integrations/segmentation/configs) are listed too and their package-data is not ambiguous
_SKIP = ["*.__pycache__", "*.__pycache__.*"]
CORE = find_namespace_packages(include=["wavelayers", "wavelayers.*"], exclude=_SKIP)
INTEGRATIONS = ["wavelayers_integrations" + p[len("integrations"):]
                for p in find_namespace_packages(include=["integrations", "integrations.*"], exclude=_SKIP)]

setup(packages=CORE + INTEGRATIONS, package_dir={"wavelayers_integrations": "integrations"})
