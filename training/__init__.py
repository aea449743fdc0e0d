"""Training entry point: `python -m training CONFIG.yaml [section.key=value ...]`.

The loop itself lives in `im2im_core.engine.trainer`; example configs are in `configs/`.
"""
