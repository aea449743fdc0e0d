"""Image history buffer (Shrivastava et al. 2017) as used by CycleGAN: D sees older fakes too."""
from __future__ import annotations

import random

import torch


class ImagePool:
    """Returns, per image, the new fake or (with p=0.5 once full) a stored one it replaces."""

    def __init__(self, size: int = 50):
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for img in images.detach():
            img = img.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif random.random() > 0.5:
                i = random.randrange(self.size)
                out.append(self.images[i].clone())
                self.images[i] = img.clone()
            else:
                out.append(img)
        return torch.cat(out)

    def state_dict(self) -> dict:
        return {"size": self.size, "images": [t.cpu() for t in self.images]}

    def load_state_dict(self, state: dict) -> None:
        self.size = state["size"]
        self.images = list(state["images"])
