"""napari draws with Mesa's llvmpipe here (Xvfb); triton imported after that GL context exists
segfaults (two LLVMs). torch imports triton lazily on the first optimizer step, so training from a
dock must not bring napari down: `napari_im2im` keeps triton out (napari_im2im/_triton_guard.py)."""
import os
import subprocess
import sys

import pytest

SCRIPT = """
import sys
from PyQt6.QtWidgets import QApplication
from PyQt6.QtOpenGLWidgets import QOpenGLWidget
app = QApplication(sys.argv)
w = QOpenGLWidget(); w.show(); app.processEvents(); w.makeCurrent()
from OpenGL import GL
print(GL.glGetString(GL.GL_RENDERER).decode(), flush=True)
{guard}
import torch
m = torch.nn.Linear(3, 3); opt = torch.optim.Adam(m.parameters())
m(torch.ones(3)).sum().backward(); opt.step()
print("stepped", flush=True)
"""


def _run(guard: str):
    env = {**os.environ, "QT_API": "pyqt6"}
    return subprocess.run([sys.executable, "-c", SCRIPT.format(guard=guard)], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs an X display (pytest-xvfb)")
def test_an_optimizer_step_after_napari_gl_does_not_crash():
    res = _run("import napari_im2im")
    assert res.returncode == 0 and "stepped" in res.stdout, (res.returncode, res.stderr[-2000:])
    if "llvmpipe" in res.stdout:  # the case the guard exists for: without it, the process dies
        bare = _run("")
        assert bare.returncode != 0 and "stepped" not in bare.stdout, "triton no longer crashes under llvmpipe"
