"""Text-conditioned families on rendered data with exact targets: GAN-CLS (text -> image) and
SisGAN (image + text -> image), and their text encoders. Two worlds: `--data shapes`
(im2im_core.data.text_scenes, 64 px RGB scenes) and `--data mri` (im2im_core.data.mri_text,
MNI152 slices in three contrasts with or without a lesion; validation and test scenes use held-out slices).

An attribute classifier (one head per attribute of the world), trained here on rendered scenes,
reads generated images; its accuracy on held-out rendered scenes is the ceiling. Training scenes,
validation scenes, test scenes, their edit pairs and the classifier's scenes come from different seeds
(train 1, test 2 and 102, classifier 3, validation 4 and 104).

    python -m training.benchmarks.text_conditioning --report                     # table from the committed results
    python -m training.benchmarks.text_conditioning --family gan_cls --train --iterations 4500 --candidate-every 500 \
        --set lambda_match=1 ... --out runs/RUN                                  # saves runs/RUN/shapes/gan_cls/candidates/it*.safetensors
    python -m training.benchmarks.text_conditioning --family gan_cls --select \
        --candidate "fresh run" runs/RUN/shapes/gan_cls/candidates --candidate "shipped" gan_cls_shapes --record
    python -m training.benchmarks.text_conditioning --family gan_cls --checkpoint CHOSEN --ship   # test, then ship
    python -m training.benchmarks.text_conditioning --record                     # score the shipped models (val + test)
    python -m training.benchmarks.text_conditioning --record --from-provenance   # their recorded metrics instead
    (add --data mri for the MRI world)

Iteration counts and recipes are chosen on the validation split only (`--select`: each candidate
export is scored on validation, the best by the family's criterion is chosen and recorded with all
candidates' scores); the test split scores a chosen model (`--checkpoint ... --ship`) and the shipped
ones (`--record`). `--train` scores its final export on validation only. `--record` writes
`training/benchmarks/results/text_conditioning/<data>.json` (committed), which `--report` reprints
without computing anything. Scoring trains the attribute classifier first (3,000 steps, about
25 minutes on one shared core; cached at `--classifier`). For `--data mri`, mri_text has training
and held-out slices only, so validation scenes are drawn (seed 4) from the same held-out slices as
the test scenes: disjoint draws, not disjoint anatomy.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from im2im_core.data import mri_text, text_scenes

from .common import command_line, config_overrides, ship, write_json

WORLDS = {"shapes": text_scenes, "mri": mri_text}
CHANNELS = {"shapes": 3, "mri": 1}
TRAIN_SEED, TEST_SEED, CLASSIFIER_SEED, VAL_SEED = 1, 2, 3, 4
#: a split's scenes come from its seed, its SisGAN edit pairs from seed + PAIR_OFFSET
SPLIT_SEEDS = {"val": VAL_SEED, "test": TEST_SEED}
PAIR_OFFSET = 100
RESULTS = Path(__file__).resolve().parent / "results" / "text_conditioning"
FAMILIES = ("gan_cls", "sisgan")
#: SisGAN candidates must keep at least this fraction of the attributes an edit leaves alone (the keep target)
KEEP_FLOOR = 0.9
CRITERIA = {"gan_cls": "highest validation attribute accuracy (attributes the caption names)",
            "sisgan": f"highest validation edited-attribute accuracy among candidates that keep >= {KEEP_FLOOR:.0%} "
                      "of the attributes the edit leaves alone (the keep target)"}


def split_note(n: int) -> str:
    return (f"validation: {n} scenes (seed {VAL_SEED}) for gan_cls and {n} edit pairs (seed {VAL_SEED + PAIR_OFFSET}) "
            f"for sisgan; test: {n} held-out scenes (seed {TEST_SEED}) and {n} edit pairs (seed "
            f"{TEST_SEED + PAIR_OFFSET}). Iteration counts and recipes were chosen on validation only (`selection`); "
            "test scores the chosen, shipped models")


def criterion(fam: str, r: dict) -> float:
    """The number `--select` maximises on validation (CRITERIA)."""
    if fam == "gan_cls":
        return r["attribute_accuracy"]
    return r["edited_accuracy"] if r["kept_accuracy"] >= KEEP_FLOOR else float("-inf")
#: the world whose functions the helpers below use (main sets it from --data)
ts = text_scenes


def shipped_name(family: str, data: str) -> str:
    return f"{family}_{data}"


def _scene(rng, test: bool):
    """test=True: a held-out scene (mri: a held-out slice; validation and test both draw from them)."""
    return ts.random_scene(rng, "test" if test else "train") if ts is mri_text else ts.random_scene(rng)


def _render(scene) -> np.ndarray:
    return ts.render(scene).transpose(1, 2, 0)


def scenes_data(n: int, seed: int, n_captions: int = 5, test: bool = False) -> dict:
    """n random scenes, their (n, 64, 64, C) float32 renders in [0, 1] and n_captions captions each."""
    rng = np.random.default_rng(seed)
    scenes = [_scene(rng, test) for _ in range(n)]
    return {"scenes": scenes, "images": np.stack([_render(s) for s in scenes]),
            "captions": [[ts.caption(s, rng) for _ in range(n_captions)] for s in scenes]}


def edit_captions(scenes, seed: int, n: int = 5) -> list[list[str]]:
    """For each scene, captions of n random edits of it (relevant but mismatching text)."""
    rng = np.random.default_rng([seed, 1])
    return [[ts.caption(ts.edit(s, rng), rng) for _ in range(n)] for s in scenes]


def edit_pairs(n: int, seed: int) -> dict:
    """n (source scene, edited scene, caption of the edit, unchanged-pixel mask) for SisGAN."""
    rng = np.random.default_rng(seed)
    src = [_scene(rng, True) for _ in range(n)]
    dst = [ts.edit(s, rng) for s in src]
    return {"src": src, "dst": dst, "caption": [ts.caption(d, rng) for d in dst],
            "own_caption": [ts.caption(s, rng) for s in src],
            "x": np.stack([_render(s) for s in src]), "y": np.stack([_render(d) for d in dst]),
            "keep": np.stack([ts.unchanged_mask(s, d) for s, d in zip(src, dst)])}


# ---- the attribute classifier -------------------------------------------------------------
class AttributeClassifier(nn.Module):
    def __init__(self, heads: dict, channels: int = 3, nf: int = 32):
        super().__init__()
        layers, ch = [], channels
        for out in (nf, 2 * nf, 4 * nf, 4 * nf):
            layers += [nn.Conv2d(ch, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU(True), nn.MaxPool2d(2)]
            ch = out
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(ch * 16, 256), nn.ReLU(True))
        self.heads = nn.ModuleDict({k.replace(" ", "_"): nn.Linear(256, n) for k, n in heads.items()})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.body(x)
        return {k.replace("_", " "): head(h) for k, head in self.heads.items()}


def to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).float()


def label_arrays(scenes) -> dict[str, torch.Tensor]:
    rows = [ts.labels(s) for s in scenes]
    return {k: torch.tensor([r[k] for r in rows]) for k in ts.HEADS}


def train_classifier(steps: int = 3000, n: int = 8000, path: Path | None = None) -> AttributeClassifier:
    """Fit on rendered scenes of its own seed (cached at `path`)."""
    clf = AttributeClassifier(ts.HEADS, ts.render(_scene(np.random.default_rng(0), False)).shape[0])
    if path is not None and path.exists():
        clf.load_state_dict(torch.load(path, weights_only=True))
        return clf.eval()
    data = scenes_data(n, CLASSIFIER_SEED, 1)  # mri: training slices only
    x, y = to_tensor(data["images"]), label_arrays(data["scenes"])
    torch.manual_seed(0)
    opt = torch.optim.Adam(clf.parameters(), 1e-3)
    for step in range(steps):
        idx = torch.randint(n, (64,))
        out = clf(x[idx] + 0.02 * torch.randn_like(x[idx]))  # a little noise: generated images are not exact
        loss = sum(nn.functional.cross_entropy(out[k], y[k][idx]) for k in ts.HEADS)
        opt.zero_grad()
        loss.backward()
        opt.step()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(clf.state_dict(), path)
    return clf.eval()


@torch.no_grad()
def predict(clf, images: np.ndarray) -> dict[str, np.ndarray]:
    x = to_tensor(np.clip(images, 0, 1))
    outs = [clf(x[i:i + 256]) for i in range(0, len(x), 256)]
    return {k: torch.cat([o[k] for o in outs]).argmax(1).numpy() for k in ts.HEADS}


@torch.no_grad()
def probabilities(clf, images: np.ndarray, head: str) -> np.ndarray:
    return torch.softmax(clf(to_tensor(np.clip(images, 0, 1)))[head], 1).numpy()


def accuracy(preds: dict, scenes, heads_of) -> float:
    """Fraction of (scene, head) pairs read correctly, over the heads `heads_of(i)` names."""
    hits = [preds[h][i] == ts.labels(s)[h] for i, s in enumerate(scenes) for h in heads_of(i)]
    return float(np.mean(hits)) if hits else float("nan")


# ---- evaluations ------------------------------------------------------------------------------
def eval_text_encoder(model, test: dict) -> dict:
    from im2im_core.text import recall_at_k

    with torch.no_grad():
        img = model.embedding.image(to_tensor(test["images"]) * 2 - 1)
        txt = model.embed([c[0] for c in test["captions"]])
    return recall_at_k(img, txt)


def channels_last(images: np.ndarray) -> np.ndarray:
    """(N, H, W) one-channel outputs as (N, H, W, 1), like the renders."""
    return images[..., None] if images.ndim == 3 else images


def eval_gan_cls(tr, test: dict, clf, ceiling: float) -> dict:
    gen = channels_last(np.concatenate([tr.generate([c[0] for c in test["captions"][i:i + 100]], 1, seed=i)
                                        for i in range(0, len(test["scenes"]), 100)]))
    acc = accuracy(predict(clf, gen), test["scenes"], lambda i: ts.mentioned(test["scenes"][i]))
    return {"attribute_accuracy": acc, "of_ceiling": acc / ceiling, "images": gen}


def changed_heads(src, dst) -> list[str]:
    a, b = ts.labels(src), ts.labels(dst)
    return [h for h in ts.HEADS if a[h] != b[h]]


def eval_sisgan(tr, pairs: dict, clf, ceiling_edit: float, ceiling_keep: float) -> dict:
    from skimage.metrics import structural_similarity

    x = pairs["x"][..., 0] if pairs["x"].shape[-1] == 1 else pairs["x"]
    out = channels_last(tr.translate(x, text=pairs["caption"], out_dtype="float32"))
    same = channels_last(tr.translate(x, text=pairs["own_caption"], out_dtype="float32"))
    preds = predict(clf, out)
    n = len(pairs["src"])
    edited = accuracy(preds, pairs["dst"], lambda i: changed_heads(pairs["src"][i], pairs["dst"][i]))
    kept = accuracy(preds, pairs["dst"], lambda i: [h for h in ts.HEADS
                                                    if h not in changed_heads(pairs["src"][i], pairs["dst"][i])])
    err = np.abs(np.clip(out, 0, 1) - pairs["y"]).mean(-1)
    ssim = [structural_similarity(pairs["y"][i], np.clip(out[i], 0, 1), channel_axis=-1, data_range=1.0)
            for i in range(n)]
    keep = pairs["keep"]
    return {"edited_accuracy": edited, "edited_of_ceiling": edited / ceiling_edit,
            "kept_accuracy": kept, "kept_of_ceiling": kept / ceiling_keep,
            "l1": float(err.mean()), "l1_unchanged": float(err[keep].mean()), "ssim": float(np.mean(ssim)),
            "identity_l1": float(np.abs(np.clip(same, 0, 1) - pairs["x"]).mean()),
            "input_l1_to_target": float(np.abs(pairs["x"] - pairs["y"]).mean()), "images": out}


#: caption a, caption b, the classifier head and the class whose probability should rise from a to b
INTERPOLATIONS = {
    "shapes": ("a large red circle at the top left on a black background",
               "a large blue circle at the top left on a black background", "top left colour", 3),
    "mri": ("T1-weighted axial slice with no lesion", "T2-weighted axial slice with no lesion", "contrast", 1)}


def interpolation(tr, clf, data: str, steps: int = 9) -> dict:
    """GAN-CLS from caption a to caption b (same z): the classifier's probability of b's class."""
    a, b, head, cls = INTERPOLATIONS[data]
    m = tr.model
    with torch.no_grad():
        ea, eb = m.embed([a]), m.embed([b])
        z = torch.randn(8, m.config.z_dim, generator=torch.Generator().manual_seed(0))
        probs = []
        for beta in np.linspace(0, 1, steps):
            e = ((1 - beta) * ea + beta * eb).expand(8, -1)
            img = (m.netG(z, e).float().numpy().transpose(0, 2, 3, 1) + 1) / 2
            probs.append(float(probabilities(clf, img, head)[:, cls].mean()))
    diffs = np.diff(probs)
    return {"from": a, "to": b, "p": probs, "monotone": bool((diffs >= -0.02).all())}


def bag_of_words_recall(model, test: dict) -> dict:
    """The text-encoder ablation: a bag-of-words encoder fitted like the model's own (same data,
    steps, batch and margin), scored the same way."""
    from im2im_core.nets.text import JointEmbedding
    from im2im_core.text import encode, fit_embedding, recall_at_k

    c = model.config
    data = scenes_data(6000, TRAIN_SEED)
    torch.manual_seed(0)
    emb = JointEmbedding(len(c.vocabulary), c.out_channels, c.text_dim, kind="bow")
    fit_embedding(emb, to_tensor(data["images"]) * 2 - 1, data["captions"], c.vocabulary, c.embed_steps,
                  c.embed_batch, c.embed_lr, c.embed_margin)
    with torch.no_grad():
        return recall_at_k(emb.image(to_tensor(test["images"]) * 2 - 1),
                           emb.text(*encode([t[0] for t in test["captions"]], c.vocabulary)))


# ---- splits and one model's scores --------------------------------------------------------------
def make_split(name: str, n: int, clf) -> dict:
    """The `name` ("val" or "test") split: n scenes from its seed, n edit pairs from seed + PAIR_OFFSET,
    and the classifier's accuracies on their renders (the ceilings)."""
    seed = SPLIT_SEEDS[name]
    scenes = scenes_data(n, seed, 1, test=True)
    pairs = edit_pairs(n, seed + PAIR_OFFSET)
    real = predict(clf, scenes["images"])
    real_dst = predict(clf, pairs["y"])
    ceiling = {"mentioned": accuracy(real, scenes["scenes"], lambda i: ts.mentioned(scenes["scenes"][i])),
               "edited": accuracy(real_dst, pairs["dst"], lambda i: changed_heads(pairs["src"][i], pairs["dst"][i])),
               "kept": accuracy(real_dst, pairs["dst"], lambda i: [h for h in ts.HEADS if h not in
                                                                   changed_heads(pairs["src"][i], pairs["dst"][i])])}
    print(f"classifier on {name} renders: mentioned {ceiling['mentioned']:.3f}, edited {ceiling['edited']:.3f}, "
          f"kept {ceiling['kept']:.3f}", flush=True)
    return {"name": name, "scenes": scenes, "pairs": pairs, "ceiling": ceiling}


def evaluate(fam: str, tr, split: dict, clf, data: str, full: bool = True, fig: Path | None = None) -> dict:
    """One model's scores on one split; full adds the text encoder's recall and GAN-CLS's interpolation."""
    scenes, pairs, ceiling = split["scenes"], split["pairs"], split["ceiling"]
    if fam == "gan_cls":
        r = eval_gan_cls(tr, scenes, clf, ceiling["mentioned"])
        rows = [("real", scenes["images"]), ("generated", r.pop("images"))]
        if full:
            r["interpolation"] = interpolation(tr, clf, data)
    else:
        r = eval_sisgan(tr, pairs, clf, ceiling["edited"], ceiling["kept"])
        rows = [("input", pairs["x"]), ("edited", r.pop("images")), ("target", pairs["y"])]
    if full:
        r["recall"], r["text_encoder"] = eval_text_encoder(tr.model, scenes), tr.model.config.text_encoder
    if fig is not None:
        figure(fig, rows)
    return r


def floats(r: dict) -> dict:
    return {k: v for k, v in r.items() if isinstance(v, float)}


def expand_candidates(pairs: list[list[str]]) -> list[tuple[str, str]]:
    """--candidate LABEL PATH pairs; a directory PATH stands for its it*.safetensors, labelled 'LABEL, N it'."""
    out = []
    for label, path in pairs:
        d = Path(path)
        if d.is_dir():
            files = sorted(d.glob("it*.safetensors"), key=lambda f: int(f.stem[2:]))
            if not files:
                raise SystemExit(f"--candidate {label!r} {path}: no it*.safetensors in that folder")
            out += [(f"{label}, {int(f.stem[2:])} it", str(f)) for f in files]
        else:
            out.append((label, path))
    return out


def select(fam: str, candidates: list[tuple[str, str]], val: dict, clf, data: str) -> dict:
    """Score every candidate on validation; choose by CRITERIA[fam]."""
    import im2im_core

    rows = []
    for label, path in candidates:
        t0 = time.time()
        tr = im2im_core.load(path, device="cpu", precision="fp32")
        r = floats(evaluate(fam, tr, val, clf, data, full=False))
        it = tr.meta.get("provenance", {}).get("iterations")
        rows.append({"label": label, "model": path, "iterations": it, "val": r})
        print(f"[{fam}] {label} ({path}, {it} it): {first(fam, r, val['ceiling'])}  [{time.time() - t0:.0f} s]",
              flush=True)
    best = max(range(len(rows)), key=lambda i: criterion(fam, rows[i]["val"]))
    return {"criterion": CRITERIA[fam], "ceiling": val["ceiling"], "candidates": rows, "chosen": rows[best]["label"],
            "chosen_model": rows[best]["model"]}


# ---- training ---------------------------------------------------------------------------------
def train(family: str, data_name: str, iterations: int, out: Path, sets: list[str], batch_size: int, lr: float,
          resume: bool, ema: float = 0.0, edits: bool = False, candidate_every: int = 0) -> Path:
    """Train one family; with candidate_every, the export at every multiple of it is kept as
    out/FAMILY/candidates/itNNNNN.safetensors for `--select`."""
    from im2im_core.data.datasets import CaptionedArrays
    from im2im_core.engine.config import OptimConfig, TrainConfig, apply_overrides
    from im2im_core.engine.trainer import Trainer
    from im2im_core.intensity import Intensity
    from im2im_core.models import build, config_from_dict

    data = scenes_data(6000, TRAIN_SEED)
    c = CHANNELS[data_name]
    raw = apply_overrides({"model": {"in_channels": c, "out_channels": c}}, config_overrides(sets))
    cfg = config_from_dict(family, raw["model"])
    images = data["images"][..., 0] if c == 1 else data["images"]
    ds = CaptionedArrays(images, data["captions"], channels=c, intensity=Intensity("dtype"),
                         description=f"6000 rendered {data_name} scenes ({ts.__name__}, seed {TRAIN_SEED}), 5 captions each"
                                     + (", 5 captions of edits each" if edits else ""),
                         relevant=edit_captions(data["scenes"], TRAIN_SEED) if edits else None)
    tcfg = TrainConfig(iterations=iterations, batch_size=batch_size, out_dir=str(out / family), progress=False,
                       tensorboard=False, sample_every=max(1, iterations // 10), save_every=max(1, min(250, iterations // 4)),
                       optim=OptimConfig(lr=lr, beta1=0.5), resume=resume, ema=ema)
    t0 = time.time()
    trainer = Trainer(build(cfg), ds, tcfg)
    if candidate_every:
        folder = out / family / "candidates"

        def keep_candidate(step: int, _losses: dict) -> None:
            if step % candidate_every == 0:
                folder.mkdir(parents=True, exist_ok=True)
                trainer.export(folder / f"it{step:05d}.safetensors")
                print(f"[{family}] candidate at {step} it, {time.time() - t0:.0f} s", flush=True)

        trainer.callback = keep_candidate
    res = trainer.fit()
    print(f"[{family}] {res['status']} {res['iterations']} it in {time.time() - t0:.0f} s", flush=True)
    return Path(res["export"])


def figure(path: Path, rows: list[tuple[str, np.ndarray]]) -> None:
    import imageio.v3 as iio

    strips = [np.concatenate(list(np.clip(imgs[:8], 0, 1)), axis=1) for _, imgs in rows]
    grid = np.concatenate(strips, axis=0)
    iio.imwrite(path, ((grid[..., 0] if grid.shape[-1] == 1 else grid) * 255).round().astype(np.uint8))


# ---- the table and the committed results ---------------------------------------------------------
def first(fam: str, r: dict, ceiling: dict) -> str:
    """The attribute scores of one result on one split."""
    if fam == "gan_cls":
        return (f"attribute accuracy {r['attribute_accuracy']:.3f} ({r['of_ceiling']:.0%} of the ceiling "
                f"{ceiling['mentioned']:.3f})")
    return (f"edited attributes {r['edited_accuracy']:.3f} ({r['edited_of_ceiling']:.0%} of "
            f"{ceiling['edited']:.3f}), kept {r['kept_accuracy']:.3f} ({r['kept_of_ceiling']:.0%} of "
            f"{ceiling['kept']:.3f})")


def row(fam: str, r: dict, ceiling: dict, ceiling_val: dict | None = None) -> str:
    """One table row: validation, then test; results recorded from a checkpoint's provenance lack
    the interpolation and recall."""
    val = first(fam, r["val"], ceiling_val or ceiling) if "val" in r else "-"
    if fam == "gan_cls":
        other = ("interpolation, P(second caption's class): " + " ".join(f"{p:.2f}" for p in r["interpolation"]["p"])
                 if "interpolation" in r else "-")
    else:
        other = (f"L1 {r['l1']:.4f} (unchanged region {r['l1_unchanged']:.4f}, input {r['input_l1_to_target']:.4f}), "
                 f"SSIM {r['ssim']:.3f}, identity L1 {r['identity_l1']:.4f}")
    enc = "-"
    if "recall" in r:
        rec = r["recall"]
        enc = (f"{r.get('text_encoder', '')}: R@1/R@5 t2i {rec['t2i_R@1']:.2f}/{rec['t2i_R@5']:.2f}, "
               f"i2t {rec['i2t_R@1']:.2f}/{rec['i2t_R@5']:.2f}").strip()
        if "recall_bow" in r:
            b = r["recall_bow"]
            enc += f"; bag of words: t2i {b['t2i_R@1']:.2f}/{b['t2i_R@5']:.2f}, i2t {b['i2t_R@1']:.2f}/{b['i2t_R@5']:.2f}"
    return f"| {fam} | {val} | {first(fam, r, ceiling)} | {other} | {enc} |"


def table(report: dict) -> str:
    lines = [row(fam, report[fam], report["ceiling"], report.get("ceiling_val")) for fam in FAMILIES if fam in report]
    return "\n".join(["| family | validation: attributes | test: attributes | test: other | "
                      "test: text encoder (100 candidates) |", "|---|---|---|---|---|", *lines])


def selection_table(sel: dict) -> str:
    """The candidates each family's choice was made among, with their validation scores."""
    lines = ["| family | candidate | iterations | validation | chosen |", "|---|---|---|---|---|"]
    for fam in FAMILIES:
        if fam not in sel:
            continue
        for c in sel[fam]["candidates"]:
            lines.append(f"| {fam} | {c['label']} | {c['iterations']} | {first(fam, c['val'], sel[fam]['ceiling'])} | "
                         f"{'**chosen**' if c['label'] == sel[fam]['chosen'] else ''} |")
    return "\n".join(lines)


def from_provenance(data: str) -> dict:
    """The shipped models' recorded metrics (`meta['provenance']`) as a result, with the ceilings
    they were divided by (accuracy / of_ceiling)."""
    import im2im_core

    out = {"source": "provenance: the metrics each shipped checkpoint was saved with (im2im_core.load(name)"
                     ".meta['provenance']['metrics']), measured by its command on the run's export before `ship` "
                     "copied it into the package (fp16 where fp32 would top 4 MB); not re-measured here, because "
                     "scoring trains the attribute classifier first (3,000 steps, about 25 min on one shared core)",
           "ceiling": {}}
    for fam in FAMILIES:
        prov = im2im_core.load(shipped_name(fam, data), device="cpu").meta["provenance"]
        m = {k: v for k, v in prov["metrics"].items() if not k.startswith("val_")}
        val = {k[4:]: v for k, v in prov["metrics"].items() if k.startswith("val_")}
        out[fam] = {**m, **({"val": val} if val else {}), "command": prov["command"],
                    "iterations": prov.get("iterations"), "date": prov.get("date")}
        pairs = ({"mentioned": "attribute_accuracy"} if fam == "gan_cls"
                 else {"edited": "edited_accuracy", "kept": "kept_accuracy"})
        for key, acc in pairs.items():
            of = acc.replace("accuracy", "of_ceiling").replace("attribute_", "")
            out["ceiling"][key] = m[acc] / m[of]
            if val:
                out.setdefault("ceiling_val", {})[key] = val[acc] / val[of]
    return out


def report(path: Path) -> str:
    r = json.loads(path.read_text())
    lines = [f"Text conditioning on rendered {r.get('data', path.stem)} scenes, {r['split']}:", "", table(r), ""]
    if r.get("source", "measured") != "measured":
        lines += [f"Source: {r['source']}.", ""]
    commands = {fam: r[fam].get("command", r.get("command")) for fam in FAMILIES if fam in r}
    lines += ["Commands:", ""] + [f"- {fam}: `{c}`" for fam, c in commands.items()]
    sel = r.get("selection", {})
    if sel:
        lines += ["", "Chosen on validation only:", ""]
        lines += [f"- {fam}: {sel[fam]['criterion']}; chose {sel[fam]['chosen']!r} (`{sel[fam]['command']}`)"
                  for fam in FAMILIES if fam in sel]
        lines += ["", selection_table(sel)]
    return "\n".join(lines)


def main(argv=None) -> int:
    import im2im_core

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", choices=("gan_cls", "sisgan"), action="append", help="default: both")
    ap.add_argument("--data", choices=tuple(WORLDS), default="shapes")
    ap.add_argument("--report", action="store_true",
                    help="only print the table from the committed results (training/benchmarks/results/text_conditioning)")
    ap.add_argument("--record", action="store_true",
                    help="also write the result (the shipped models' scores, or --select's choice) to --results")
    ap.add_argument("--from-provenance", action="store_true",
                    help="with --record: record the shipped checkpoints' saved metrics instead of scoring them")
    ap.add_argument("--results", default=str(RESULTS))
    ap.add_argument("--train", action="store_true", help="train, then score the final export on validation only")
    ap.add_argument("--candidate-every", type=int, default=0,
                    help="with --train: keep the export every N iterations as a --select candidate")
    ap.add_argument("--select", action="store_true",
                    help="score each --candidate on validation and choose one (one --family)")
    ap.add_argument("--candidate", nargs=2, action="append", default=[], metavar=("LABEL", "PATH"),
                    help="a --select candidate: an export, a shipped name, or a folder of it*.safetensors")
    ap.add_argument("--ship", action="store_true", help="score --checkpoint on validation and test, then ship it")
    ap.add_argument("--iterations", type=int, default=3000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--edit-captions", action="store_true",
                    help="train with captions of edits of each scene as relevant mismatching text")
    ap.add_argument("--ema", type=float, default=0.0, help="EMA decay of the generator's weights (0: off)")
    ap.add_argument("--set", action="append", default=[], help="model config override KEY=VALUE")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--checkpoint", default="", help="score this checkpoint (one --family)")
    ap.add_argument("--n-test", type=int, default=500, help="scenes (and edit pairs) in each of validation and test")
    ap.add_argument("--bow", action="store_true", help="also fit the bag-of-words text encoder ablation")
    ap.add_argument("--classifier", default="", help="the attribute classifier's cache "
                    "(default runs/text_conditioning/DATA/attribute_classifier.pt)")
    ap.add_argument("--out", default="runs/text_conditioning")
    args = ap.parse_args(argv)
    global ts
    ts = WORLDS[args.data]
    result_file = Path(args.results) / f"{args.data}.json"
    if args.report:
        print(report(result_file))
        return 0
    out = Path(args.out) / args.data
    cmd = command_line("training.benchmarks.text_conditioning", argv)
    previous = json.loads(result_file.read_text()) if result_file.exists() else {}
    if args.from_provenance:
        if not args.record or args.train or args.checkpoint or args.select:
            raise SystemExit("--from-provenance records the shipped models' saved metrics: use it with --record alone")
        result = {"data": args.data, **from_provenance(args.data), "split": split_note(500), "recorded_with": cmd}
        if "selection" in previous:
            result["selection"] = previous["selection"]
        write_json(result_file, result)
        print(report(result_file))
        return 0
    families = args.family or ["gan_cls", "sisgan"]
    if (args.select or args.checkpoint) and len(families) != 1:
        raise SystemExit("--select and --checkpoint take one --family")
    if args.select and (args.train or args.checkpoint or args.ship or not args.candidate):
        raise SystemExit("--select scores --candidate LABEL PATH ... on validation: no --train/--checkpoint/--ship")
    if args.ship and not args.checkpoint:
        raise SystemExit("--ship ships --checkpoint, a candidate chosen with --select on validation")
    if args.record and not args.select and (set(families) != set(FAMILIES) or args.train or args.checkpoint):
        raise SystemExit("--record writes the committed results of the shipped models (score both families, "
                         "after any --ship) or --select's choice")
    clf_path = Path(args.classifier) if args.classifier else Path("runs/text_conditioning") / args.data / "attribute_classifier.pt"

    if args.select:
        candidates = expand_candidates(args.candidate)
        clf = train_classifier(path=clf_path)
        sel = select(families[0], candidates, make_split("val", args.n_test, clf), clf, args.data)
        sel["command"] = cmd
        print(f"[{families[0]}] chosen on validation: {sel['chosen']} ({sel['chosen_model']})")
        write_json(out / f"selection_{families[0]}.json", sel)
        if args.record:
            result = previous or {"data": args.data, "split": split_note(args.n_test)}
            result.setdefault("selection", {})[families[0]] = sel
            write_json(result_file, result)
            print(selection_table(result["selection"]))
        return 0

    trained = {}
    for fam in families:
        if args.train:
            trained[fam] = train(fam, args.data, args.iterations, out, args.set, args.batch_size, args.lr, args.resume,
                                 args.ema, args.edit_captions, args.candidate_every)
    clf = train_classifier(path=clf_path)
    val = make_split("val", args.n_test, clf)
    test = None if args.train else make_split("test", args.n_test, clf)
    result = {"data": args.data, "command": cmd, "source": "measured", "split": split_note(args.n_test),
              "ceiling": test["ceiling"] if test else None, "ceiling_val": val["ceiling"]}
    for fam in families:
        model = str(trained.get(fam) or args.checkpoint or shipped_name(fam, args.data))
        tr = im2im_core.load(model, device="cpu", precision="fp32")
        rv = evaluate(fam, tr, val, clf, args.data, full=False)
        if test is None:  # --train: validation only
            r = {"val": floats(rv)}
            print(f"| {fam} | validation: {first(fam, rv, val['ceiling'])} |", flush=True)
        else:
            r = evaluate(fam, tr, test, clf, args.data, fig=out / f"{fam}.png")
            r["val"] = floats(rv)
            if args.bow:
                r["recall_bow"] = bag_of_words_recall(tr.model, test["scenes"])
            print(row(fam, r, test["ceiling"], val["ceiling"]), flush=True)
        r["model"] = model
        result[fam] = r
        if args.ship:
            metrics = {**floats(r), **{f"val_{k}": v for k, v in r["val"].items()}}
            chosen = previous.get("selection", {}).get(fam, {})
            extra = {"task": f"{fam} on rendered {args.data} scenes ({ts.__name__})",
                     "chosen_on": f"validation (scenes seed {VAL_SEED}, edit pairs seed {VAL_SEED + PAIR_OFFSET})"
                                  + (f": {chosen['chosen']!r} by {chosen['criterion']}" if chosen else "")}
            print("shipped", ship(model, shipped_name(fam, args.data), metrics, cmd, extra))
    write_json(out / "report.json", result)
    if args.record:
        if "selection" in previous:
            result["selection"] = previous["selection"]
        write_json(result_file, result)
    if test is not None:
        print(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
