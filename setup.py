"""Build the Cython extensions; everything else lives in pyproject.toml.

FASTCTX_DEBUG=1 turns bounds/wraparound/initialized checks and line tracing back on.
FASTCTX_ANNOTATE=1 writes the Cython HTML annotation next to each module.
"""
import os
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("FASTCTX_DEBUG") == "1"
ONLY = [m for m in os.environ.get("FASTCTX_ONLY", "").split(",") if m]

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
    "linetrace": DEBUG,
}
macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
if DEBUG:
    macros.append(("CYTHON_TRACE_NOGIL", "1"))

# Portable optimisation only: no -march=native, wheels must run on any CPU of the platform.
compile_args = [] if os.name == "nt" else ["-O3"]

extensions = [
    Extension(
        f"fastctx.{path.stem}",
        [str(path)],
        include_dirs=[np.get_include(), "src/fastctx"],
        define_macros=macros,
        extra_compile_args=compile_args,
    )
    for path in sorted(Path("src/fastctx").glob("_*.pyx"))
    # FASTCTX_ONLY=_render,_parse builds just those modules (faster edit-compile loops)
    if not ONLY or path.stem in ONLY
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=directives,
        annotate=os.environ.get("FASTCTX_ANNOTATE") == "1",
    ),
)
