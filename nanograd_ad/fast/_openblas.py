"""Shorten the busy-wait of OpenBLAS's idle worker threads, before NumPy loads OpenBLAS.

Imported first by ``nanograd_ad/fast/__init__.py``, which the package imports first;
:mod:`nanograd_ad.fast.threads` says why and
:func:`nanograd_ad.fast.threads.blas_wait` whether it took effect. Imports no NumPy itself.
"""

import os
import sys

#: what nanograd_ad sets OPENBLAS_THREAD_TIMEOUT to when the user has not: 2^4 cycles
THREAD_TIMEOUT = "4"
#: the user's own OPENBLAS_THREAD_TIMEOUT (None: not set), which is left as it is
USER_VALUE = os.environ.get("OPENBLAS_THREAD_TIMEOUT")
#: OpenBLAS reads the variable once, when it loads (with NumPy): if NumPy was imported
#: before nanograd_ad, the value set here reaches only processes started from this one
NUMPY_LOADED_FIRST = "numpy" in sys.modules

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", THREAD_TIMEOUT)
