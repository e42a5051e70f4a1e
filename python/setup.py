"""Build hook of the clipc package: bundles libclipc.so into the package.

Everything else is in pyproject.toml.  When the package is built from a
checkout (pip builds ./python in place), build/libclipc.so of that checkout
(`make shared`) is copied into the package, so the installed package needs
no CLIPC_LIBRARY; CLIPC_BUNDLE_LIBRARY=PATH bundles another file, and
CLIPC_BUNDLE_LIBRARY=none bundles nothing (the package then finds the
library through CLIPC_LIBRARY or the system loader).  A wheel holding the
library is tagged for this platform, not as pure Python.
"""

import os
import shutil

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def bundled_library():
    p = os.environ.get("CLIPC_BUNDLE_LIBRARY")
    if p == "none":
        return None
    if p:
        if not os.path.isfile(p):
            raise SystemExit(f"CLIPC_BUNDLE_LIBRARY={p}: no such file")
        return p
    p = os.path.join(HERE, "..", "build", "libclipc.so")
    return p if os.path.isfile(p) else None


class BuildPyWithLibrary(build_py):
    def run(self):
        super().run()
        lib = bundled_library()
        if lib:
            dest = os.path.join(self.build_lib, "clipc", "libclipc.so")
            self.announce(f"bundling {lib} as {dest}", level=2)
            shutil.copyfile(lib, dest)


class PlatformDistribution(Distribution):
    def has_ext_modules(self):
        return bundled_library() is not None


setup(cmdclass={"build_py": BuildPyWithLibrary}, distclass=PlatformDistribution)
