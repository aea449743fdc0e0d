"""What a run writes as it goes: losses.csv (window means), TensorBoard scalars and sample
grids, and the final loss_curves.png."""
from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
import torch


class RunLog:
    """losses.csv (window means), TensorBoard scalars/images and the final loss_curves.png; rank 0 only."""

    def __init__(self, out_dir: Path, start_step: int, tensorboard: bool = True):
        self.out_dir = out_dir
        self.csv_path = out_dir / "losses.csv"
        self.fields: list[str] | None = None
        self.window: dict[str, list[float]] = {}
        self.t0 = time.perf_counter()
        self._keep_rows_upto(start_step)
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(log_dir=str(out_dir / "tb"), purge_step=start_step or None)
            except ImportError:  # tensorboard is optional at runtime; the CSV still records everything
                self.tb = None

    def _keep_rows_upto(self, step: int) -> None:
        """On resume, drop rows a crashed run logged after the checkpoint (they get redone)."""
        if not self.csv_path.is_file():
            return
        if step == 0:
            self.csv_path.unlink()
            return
        with open(self.csv_path, newline="") as fh:
            reader = csv.DictReader(fh)
            self.fields = reader.fieldnames
            rows = [r for r in reader if r.get("step", "").isdigit() and int(r["step"]) <= step]
        with open(self.csv_path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.fields)
            writer.writeheader()
            writer.writerows(rows)

    def add(self, losses: dict[str, float]) -> None:
        """Accumulate one iteration's losses into the current window."""
        for k, v in losses.items():
            self.window.setdefault(k, []).append(float(v))

    def flush(self, step: int, lr: float) -> dict[str, float]:
        """Write one row of the means since the last row; returns them."""
        means = {k: sum(v) / len(v) for k, v in self.window.items() if v}
        self.window = {}
        if not means:
            return means
        row = {"step": step, "elapsed_s": round(time.perf_counter() - self.t0, 3), "lr": lr, **means}
        new = self.fields is None
        if new:
            self.fields = list(row)
        with open(self.csv_path, "a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.fields, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)
        if self.tb is not None:
            for k, v in means.items():
                self.tb.add_scalar(f"loss/{k}", v, step)
            self.tb.add_scalar("lr", lr, step)
        return means

    def image(self, step: int, grid: np.ndarray) -> Path:
        """Save a samples/step_XXXXXX.png grid (and log it to TensorBoard)."""
        from PIL import Image

        path = self.out_dir / "samples" / f"step_{step:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(grid).save(path)
        if self.tb is not None:
            self.tb.add_image("samples", grid, step, dataformats="HWC")
        return path

    def close(self) -> None:
        """Plot loss_curves.png from the CSV and close TensorBoard."""
        if self.tb is not None:
            self.tb.close()
        if self.csv_path.is_file():
            plot_losses(self.csv_path, self.out_dir / "loss_curves.png")


def plot_losses(csv_path: Path, png_path: Path) -> Path | None:
    """One small panel per loss column against the iteration (matplotlib Agg, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return None
    names = [k for k in rows[0] if k not in ("step", "elapsed_s", "lr")]
    steps = [int(r["step"]) for r in rows]
    cols = min(3, len(names)) or 1
    nrows = -(-len(names) // cols) or 1
    fig = Figure(figsize=(4 * cols, 2.6 * nrows), dpi=100)
    FigureCanvasAgg(fig)
    for i, name in enumerate(names):
        ax = fig.add_subplot(nrows, cols, i + 1)
        ax.plot(steps, [float(r[name]) if r.get(name) not in (None, "") else float("nan") for r in rows])
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("iteration", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(png_path)
    return png_path


def visual_grid(visuals: dict[str, torch.Tensor], max_rows: int = 4, pad: int = 2) -> np.ndarray:
    """uint8 RGB grid: one row per sample, one column per visual (gray shown as RGB)."""
    tiles = {k: v.detach().float().cpu()[:max_rows] for k, v in visuals.items()}
    h = max(t.shape[-2] for t in tiles.values())
    w = max(t.shape[-1] for t in tiles.values())
    n = min(t.shape[0] for t in tiles.values())
    grid = np.full((n * (h + pad) + pad, len(tiles) * (w + pad) + pad, 3), 255, np.uint8)
    for c, t in enumerate(tiles.values()):
        t = t[:, :3] if t.shape[1] >= 3 else t[:, :1].expand(-1, 3, -1, -1)
        img = ((t.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        for r in range(n):
            y, x = pad + r * (h + pad), pad + c * (w + pad)
            grid[y:y + img.shape[1], x:x + img.shape[2]] = img[r]
    return grid
