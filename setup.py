"""Every build and install (``pip install .``, ``pip install -e .``, wheels) compiles the dashboard's
gettext catalogues, ``dashboard/locale/*/LC_MESSAGES/messages.po``, to the ``.mo`` files it reads.
Everything else about the package is in pyproject.toml."""

from pathlib import Path

from babel.messages.frontend import CommandLineInterface
from setuptools import setup
from setuptools.command.build_py import build_py

LOCALE_DIR = Path(__file__).resolve().parent / "dashboard" / "locale"


class BuildPyWithCatalogues(build_py):
    def run(self) -> None:
        # In place, next to the .po files: an editable install reads the package from the source tree.
        if CommandLineInterface().run(["pybabel", "compile", "-d", str(LOCALE_DIR)]):
            raise SystemExit(f"pybabel compile failed on {LOCALE_DIR}")
        super().run()


setup(cmdclass={"build_py": BuildPyWithCatalogues})
