"""Synthetic 64 px scenes with captions, for the text-conditioned families (GAN-CLS, SisGAN).

Every scene is a background colour and one or two objects, each with a shape, colour, size and one
of four positions (at most one object per position). Rendering is a pure function of the scene,
so an edit ("make the circle blue") has an exact target: the same scene, jitter included, with the
edited attributes, and a mask of the pixels the edit leaves alone. Captions come from templates
with synonyms and varied word order; every random number comes from the `rng` passed in.

Labels for the attribute classifier: per position, the shape, colour and size of the object there
(index 0 = no object), and the background.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

SHAPES = ("circle", "square", "triangle")
COLOURS = {"red": (0.95, 0.15, 0.15), "green": (0.15, 0.8, 0.2), "blue": (0.2, 0.35, 1.0),
           "yellow": (0.95, 0.9, 0.1), "white": (1.0, 1.0, 1.0)}
SIZES = {"small": 0.11, "large": 0.2}  # half-extent as a fraction of the side
POSITIONS = {"top left": (0.27, 0.27), "top right": (0.27, 0.73), "bottom left": (0.73, 0.27),
             "bottom right": (0.73, 0.73)}  # (row, col) centres as fractions of the side
BACKGROUNDS = {"black": (0.0, 0.0, 0.0), "grey": (0.45, 0.45, 0.45), "purple": (0.3, 0.1, 0.35)}

#: words a caption may use for each attribute value
SYNONYMS = {
    "circle": ("circle", "disc", "round dot"), "square": ("square", "box", "block"),
    "triangle": ("triangle", "wedge", "pyramid"),
    "red": ("red", "scarlet"), "green": ("green", "emerald"), "blue": ("blue", "azure"),
    "yellow": ("yellow", "golden"), "white": ("white", "snowy"),
    "small": ("small", "little", "tiny"), "large": ("large", "big", "huge"),
    "top left": ("at the top left", "in the upper left", "in the top left corner"),
    "top right": ("at the top right", "in the upper right", "in the top right corner"),
    "bottom left": ("at the bottom left", "in the lower left", "in the bottom left corner"),
    "bottom right": ("at the bottom right", "in the lower right", "in the bottom right corner"),
    "black": ("black", "dark"), "grey": ("grey", "gray"), "purple": ("purple", "violet"),
}
#: label heads of the attribute classifier: name -> number of classes
HEADS = {**{f"{p} {a}": n + 1 for p in POSITIONS for a, n in
            (("shape", len(SHAPES)), ("colour", len(COLOURS)), ("size", len(SIZES)))},
         "background": len(BACKGROUNDS)}


@dataclass(frozen=True)
class Thing:
    """One object; `jitter` (pixels, row/col) and `scale` only vary the look, not the caption."""
    shape: str
    colour: str
    size: str
    position: str
    jitter: tuple = (0.0, 0.0)
    scale: float = 1.0


@dataclass(frozen=True)
class Scene:
    background: str
    things: tuple


def random_scene(rng, n_objects: tuple = (1, 2)) -> Scene:
    """A scene with 1-2 objects at distinct positions, every attribute uniform."""
    n = int(rng.integers(n_objects[0], n_objects[1] + 1))
    spots = rng.choice(len(POSITIONS), size=n, replace=False)
    things = tuple(Thing(SHAPES[rng.integers(len(SHAPES))], list(COLOURS)[rng.integers(len(COLOURS))],
                         list(SIZES)[rng.integers(len(SIZES))], list(POSITIONS)[int(p)],
                         tuple(float(v) for v in rng.uniform(-2.5, 2.5, 2)), float(rng.uniform(0.9, 1.1)))
                   for p in sorted(spots))
    return Scene(list(BACKGROUNDS)[rng.integers(len(BACKGROUNDS))], things)


def _coverage(thing: Thing, size: int, ss: int) -> np.ndarray:
    """Fraction of each pixel the object covers, from ss x ss supersampling."""
    n = size * ss
    yy, xx = (np.mgrid[0:n, 0:n] + 0.5) / ss
    cy, cx = (np.array(POSITIONS[thing.position]) * size + np.array(thing.jitter))
    r = SIZES[thing.size] * size * thing.scale
    dy, dx = yy - cy, xx - cx
    if thing.shape == "circle":
        inside = dy ** 2 + dx ** 2 <= r ** 2
    elif thing.shape == "square":
        inside = (np.abs(dy) <= r * 0.85) & (np.abs(dx) <= r * 0.85)
    else:  # upward triangle inscribed in the circle of radius r
        inside = (dy <= r * 0.5) & (np.abs(dx) * np.sqrt(3) <= dy + r)
    return inside.reshape(size, ss, size, ss).mean(axis=(1, 3))


def render(scene: Scene, size: int = 64, ss: int = 4) -> np.ndarray:
    """(3, size, size) float32 RGB in [0, 1]; later objects paint over earlier ones."""
    img = np.empty((3, size, size), np.float32)
    img[:] = np.asarray(BACKGROUNDS[scene.background], np.float32)[:, None, None]
    for t in scene.things:
        a = _coverage(t, size, ss)[None].astype(np.float32)
        img = img * (1 - a) + np.asarray(COLOURS[t.colour], np.float32)[:, None, None] * a
    return img


def labels(scene: Scene) -> dict[str, int]:
    """The classifier's targets: per position shape/colour/size (0 = empty) and the background."""
    out = {name: 0 for name in HEADS}
    for t in scene.things:
        out[f"{t.position} shape"] = SHAPES.index(t.shape) + 1
        out[f"{t.position} colour"] = list(COLOURS).index(t.colour) + 1
        out[f"{t.position} size"] = list(SIZES).index(t.size) + 1
    out["background"] = list(BACKGROUNDS).index(scene.background)
    return out


def mentioned(scene: Scene) -> list[str]:
    """The heads a caption of `scene` names: each object's shape, colour and size, and the background."""
    return [f"{t.position} {a}" for t in scene.things for a in ("shape", "colour", "size")] + ["background"]


def _say(value: str, rng) -> str:
    words = SYNONYMS[value]
    return words[int(rng.integers(len(words)))]


def _phrase(t: Thing, rng) -> str:
    noun = f"{_say(t.size, rng)} {_say(t.colour, rng)} {_say(t.shape, rng)}"
    where = _say(t.position, rng)
    forms = (f"a {noun} {where}", f"{where} a {noun}", f"a {noun} that sits {where}")
    return forms[int(rng.integers(len(forms)))]


def caption(scene: Scene, rng) -> str:
    """One caption with random synonyms, object order and background clause placement."""
    order = list(scene.things)
    if len(order) > 1 and rng.random() < 0.5:
        order.reverse()
    body = " and ".join(_phrase(t, rng) for t in order)
    bg = _say(scene.background, rng)
    forms = (f"{body} on a {bg} background", f"on a {bg} background {body}", f"a {bg} scene with {body}")
    return forms[int(rng.integers(len(forms)))]


#: attributes an edit may change (positions stay, so the unchanged region is well defined)
EDITABLE = ("shape", "colour", "size")


def edit(scene: Scene, rng, max_changes: int = 2) -> Scene:
    """The scene with 1..max_changes object attributes changed to other values (jitter kept)."""
    things = list(scene.things)
    choices = {"shape": SHAPES, "colour": tuple(COLOURS), "size": tuple(SIZES)}
    slots = [(i, a) for i in range(len(things)) for a in EDITABLE]
    n = min(int(rng.integers(1, max_changes + 1)), len(slots))
    for k in rng.choice(len(slots), size=n, replace=False):  # distinct slots, so no edit undoes another
        i, attr = slots[int(k)]
        options = [v for v in choices[attr] if v != getattr(things[i], attr)]
        things[i] = dataclasses.replace(things[i], **{attr: options[int(rng.integers(len(options)))]})
    return Scene(scene.background, tuple(things))


def unchanged_mask(a: Scene, b: Scene, size: int = 64) -> np.ndarray:
    """(size, size) bool: pixels that render identically in both scenes."""
    return np.all(np.abs(render(a, size) - render(b, size)) < 1e-6, axis=0)


__all__ = ["BACKGROUNDS", "COLOURS", "HEADS", "POSITIONS", "SHAPES", "SIZES", "SYNONYMS", "Scene", "Thing",
           "caption", "edit", "labels", "mentioned", "random_scene", "render", "unchanged_mask"]
