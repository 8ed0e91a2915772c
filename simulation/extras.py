"""Optional dependencies: import them where a feature needs them, with one clear line when they are missing."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["EXTRAS", "MissingExtra", "require"]

# extra -> (what it enables, distribution names it installs)
EXTRAS = {
    "dask": "sweeps on a Dask cluster",
    "calibrate": "calibration by ABC-SMC (pyabc)",
    "sensitivity": "saltelli and morris designs, Sobol indices, Morris screening and PRIM scenario discovery",
}


class MissingExtra(RuntimeError):
    """An optional dependency needed for what was asked is not installed."""


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Return the imported ``module``, or raise MissingExtra saying which extra installs it.

    Raises:
        MissingExtra: ``module`` is not installed; the message names ``feature`` and ``pip install 'talentsim[extra]'``.
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(f"{feature} needs the optional package '{module.split('.')[0]}': "
                           f"pip install 'talentsim[{extra}]'") from None
