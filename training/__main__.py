"""`python -m training CONFIG.yaml [section.key=value ...] [--resume]`: train from a YAML config."""
from __future__ import annotations

import sys

USAGE = """usage: python -m training CONFIG.yaml [section.key=value ...] [--resume]

Train a model from a YAML config with sections model (family + model config), data and train.
Overrides use dotted keys, e.g. train.iterations=100 model.generator.ngf=32 data.dir_A=/path.
--resume continues from the latest checkpoint in train.out_dir (same as train.resume=true)."""


def main(argv: list[str] | None = None) -> int:
    """Run training; returns the process exit code (errors print one line, no traceback)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    overrides = [a for a in args[1:] if a != "--resume"]
    if "--resume" in args[1:]:
        overrides.append("train.resume=true")
    from im2im_core.engine.factory import train_from_config
    from im2im_core.errors import Im2ImError

    try:
        trainer = train_from_config(args[0], overrides)
    except Im2ImError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the last saved checkpoint is kept", file=sys.stderr)
        return 130
    if trainer.dist.is_main:
        res = trainer.result
        print(f"{res['status']} after {res['iterations']} iterations; model: {res['export']}; "
              f"checkpoint: {res['checkpoint']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
