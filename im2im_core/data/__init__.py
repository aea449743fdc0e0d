"""Datasets for im2im_core (real MNI152 anatomy with synthetic paired MRI contrasts)."""
