"""Captions to token ids, and the joint text-image embedding the text-conditioned families use.

The references (GAN-CLS, SisGAN) condition on a pretrained visual-semantic embedding; nothing can be
downloaded here, so each model trains its own on its training captions (`fit_embedding`: the
pairwise ranking loss of Kiros et al., margin 0.2, as in dong_iccv_2017's VSE) and keeps the
vocabulary in its config, so a checkpoint alone rebuilds the encoder.
"""
from __future__ import annotations

import re
import warnings
from collections import Counter

import torch

from .errors import InputError

PAD, UNK = "<pad>", "<unk>"


def tokenize(text: str) -> list[str]:
    """Lower-case words (letters only; "grey," and "Grey" are one word)."""
    return re.findall(r"[a-z]+", text.lower())


def build_vocabulary(captions, min_count: int = 1) -> tuple[str, ...]:
    """(PAD, UNK, words sorted by frequency then alphabet) of the words used >= min_count times."""
    counts = Counter(w for c in captions for w in tokenize(c))
    words = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
    return (PAD, UNK, *words)


def encode(texts, vocabulary: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids (N, L) int64 padded with 0, lengths (N,)) for a caption or a list of captions.

    Unknown words are dropped with one warning that names them; empty text, or text without a
    single known word, is an InputError."""
    texts = [texts] if isinstance(texts, str) else list(texts)
    index = {w: i for i, w in enumerate(vocabulary)}
    seqs, unknown = [], []
    for t in texts:
        if not isinstance(t, str):
            raise InputError(f"text must be a string, got {type(t).__name__}")
        words = tokenize(t)
        unknown += [w for w in words if w not in index]
        seq = [index[w] for w in words if w in index]
        if not seq:
            raise InputError(f"text {t!r} has no word the model knows; it knows: {', '.join(sorted(vocabulary[2:]))}"
                             if words else "text is empty: describe the image you want in words")
        seqs.append(seq)
    if unknown:
        warnings.warn(f"unknown word(s) ignored: {', '.join(sorted(set(unknown)))}", UserWarning, stacklevel=2)
    ids = torch.zeros(len(seqs), max(map(len, seqs)), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
    return ids, torch.tensor([len(s) for s in seqs])


def pairwise_ranking(img: torch.Tensor, txt: torch.Tensor, margin: float = 0.2) -> torch.Tensor:
    """Sum-of-hinges ranking loss on L2-normalised embeddings (N, D): each matching pair must beat
    every mismatching image and every mismatching caption of the batch by `margin` in cosine."""
    s = img @ txt.t()
    pos = s.diag()[:, None]
    off = ~torch.eye(len(s), dtype=torch.bool, device=s.device)
    cost_txt = (margin - pos + s).clamp_min(0)[off]  # image i against captions k
    cost_img = (margin - pos.t() + s).clamp_min(0)[off]  # caption j against images k
    return (cost_txt.sum() + cost_img.sum()) / len(s)


def recall_at_k(img: torch.Tensor, txt: torch.Tensor, ks=(1, 5), pool: int = 100) -> dict[str, float]:
    """Text->image and image->text Recall@k among `pool` candidates: the held-out pairs are split
    into groups of `pool` and each query ranks the group's candidates (pair i matches i)."""
    out = {f"{d}_R@{k}": [] for d in ("t2i", "i2t") for k in ks}
    for start in range(0, len(img) - pool + 1, pool):
        s = img[start:start + pool] @ txt[start:start + pool].t()  # s[i, j]: image i, caption j
        for d, sim in (("t2i", s.t()), ("i2t", s)):
            rank = (sim > sim.diag()[:, None]).sum(1)  # candidates scored above the true one
            for k in ks:
                out[f"{d}_R@{k}"].append((rank < k).float())
    if not out[f"t2i_R@{ks[0]}"]:
        raise InputError(f"recall_at_k needs at least {pool} pairs, got {len(img)}")
    return {k: float(torch.cat(v).mean()) for k, v in out.items()}


def fit_embedding(embedder, images: torch.Tensor, captions: list[list[str]], vocabulary, steps: int,
                  batch_size: int = 64, lr: float = 2e-3, margin: float = 0.2, seed: int = 0) -> list[float]:
    """Train `embedder` (nets.text.JointEmbedding) on images (N, C, H, W) in [-1, 1], each with
    several captions (one drawn per step); returns the loss per step."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(embedder.parameters(), lr=lr)
    losses = []
    embedder.train()
    for _ in range(steps):
        idx = torch.randperm(len(images), generator=gen)[:batch_size]
        texts = [captions[i][int(torch.randint(len(captions[i]), (1,), generator=gen))] for i in idx.tolist()]
        ids, lengths = encode(texts, vocabulary)
        loss = pairwise_ranking(embedder.image(images[idx]), embedder.text(ids, lengths), margin)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    embedder.eval()
    return losses


__all__ = ["PAD", "UNK", "build_vocabulary", "encode", "fit_embedding", "pairwise_ranking", "recall_at_k", "tokenize"]
