"""Packaging is declared in setup.cfg; this file only ships benchmarks/sweeps/*.toml inside the wheel.

The built-in sweep definitions live in `benchmarks/sweeps/` (next to the committed results), and
`zoo bench quick` must also work after a plain `pip install`, so the build copies them to `zoo/sweeps/`.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithSweeps(build_py):
    def run(self):
        super().run()
        target = Path(self.build_lib) / "zoo" / "sweeps"
        target.mkdir(parents=True, exist_ok=True)
        for sweep in sorted(Path(__file__).parent.joinpath("benchmarks", "sweeps").glob("*.toml")):
            shutil.copy2(sweep, target / sweep.name)


setup(cmdclass={"build_py": BuildWithSweeps})
