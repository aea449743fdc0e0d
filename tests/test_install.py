"""Issue 35: the install resolves to a working set. Every optional extra imports, and pip sees no
broken requirement (a resolver once walked distributed back to 2021.4.1, which fails to import
beside dask 2026.11)."""
import importlib
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

CONSTRAINTS = Path(__file__).resolve().parents[1] / "scripts" / "constraints.txt"


@pytest.mark.parametrize("module", ["dask.distributed", "dask.array", "zarr", "ome_zarr", "onnx", "onnxruntime",
                                    "bioimageio.core", "napari", "magicgui", "PyQt6.QtWidgets", "h5py", "pywt"])
def test_every_optional_extra_imports(module):
    importlib.import_module(module)


def test_pip_check_is_clean():
    out = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


def test_installed_versions_are_the_constrained_ones():
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line and not line.startswith("#") and "==" in line:
            name, ver = line.split("==")
            pins[name.strip().lower()] = ver.strip()
    for name in ("torch", "torchvision", "numpy", "napari", "pyqt6", "dask", "distributed", "zarr", "onnxruntime",
                 "bioimageio.core"):
        assert version(name).split("+")[0] == pins[name], name
    assert version("dask") == version("distributed")  # released together: a mismatch fails at import
