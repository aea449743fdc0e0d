"""The one training loop, atomic checkpointing and resume, and distributed helpers."""
