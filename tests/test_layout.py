"""The package layout, lazy imports and the napari-free core."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return set(out.stdout.split())


def test_core_never_imports_napari_or_qt():
    mods = _modules_after(
        "import im2im_core, im2im_core.inference, im2im_core.cli, im2im_core.models as m, im2im_core.engine\n"
        "import im2im_core.mri, im2im_core.io, im2im_core.export, im2im_core.tiling\n"
        "m.list_models()")
    banned = {m for m in mods if m.split(".")[0] in ("napari", "qtpy", "PyQt6", "PyQt5", "PySide6", "magicgui")}
    assert not banned, f"im2im_core pulled in GUI modules: {sorted(banned)[:5]}"
    assert "im2im_core.models.generator" in mods  # the registry really imported the families


def _imports(path: Path) -> set[str]:
    """Absolute names of the im2im_core/napari_im2im modules a source file imports (relative ones resolved)."""
    import ast

    pkg = path.relative_to(ROOT).with_suffix("").parts[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = list(pkg[: len(pkg) - node.level + 1]) if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names}  # "from . import x" names a module too
    return {m for m in out if m.split(".")[0] in ("im2im_core", "napari_im2im", "napari", "qtpy")}


def test_import_directions_models_never_import_engine_and_families_never_import_each_other():
    models = ROOT / "im2im_core" / "models"
    families = {f"im2im_core.models.{p.stem}" for p in models.glob("*.py")
                if any(line.startswith("@register(") for line in p.read_text().splitlines())}
    assert len(families) >= 15  # the check sees the families
    for path in models.glob("*.py"):
        mods = _imports(path)
        own = f"im2im_core.models.{path.stem}"
        assert not {m for m in mods if m.startswith("im2im_core.engine")}, f"{path.name} imports the engine"
        assert not (mods & families) - {own}, f"{path.name} imports another family: {sorted((mods & families) - {own})}"
    for path in (ROOT / "im2im_core").rglob("*.py"):
        bad = {m for m in _imports(path) if m.split(".")[0] in ("napari_im2im", "napari", "qtpy")}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_no_two_modules_import_each_other():
    """Arrows run one way: no pair of modules imports each other, not even lazily inside a function
    (a package's __init__ that re-exports its own modules is the one exception)."""
    def name(path):
        parts = path.relative_to(ROOT).with_suffix("").parts
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    paths = [p for pkg in ("im2im_core", "napari_im2im") for p in (ROOT / pkg).rglob("*.py")]
    imports = {name(p): _imports(p) for p in paths}
    assert "im2im_core.data.build" in imports["im2im_core.engine.factory"]  # the check sees the edges
    pairs = sorted({tuple(sorted((a, b))) for a, mods in imports.items() for b in mods
                    if b in imports and b != a and a in imports[b]
                    and not (a.startswith(b + ".") or b.startswith(a + "."))})
    assert not pairs, f"modules that import each other: {pairs}"


def test_cli_help_does_not_import_torch():
    mods = _modules_after("from im2im_core.cli import build_parser\nbuild_parser().format_help()")
    assert "torch" not in mods and "numpy" not in mods


def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "im2im_core", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0
    for cmd in ("translate", "info", "models", "export", "train", "demo"):
        assert cmd in out.stdout


def test_layout_and_metadata():
    for name in ("im2im_core", "napari_im2im", "training", "tests", "setup.cfg", "README.md"):
        assert (ROOT / name).exists(), name
    cfg = (ROOT / "setup.cfg").read_text()
    assert "im2im = im2im_core.cli:main" in cfg
    assert "napari-im2im = napari_im2im:napari.yaml" in cfg
    base = cfg.split("install_requires")[1].split("[")[0]
    assert "PyQt" not in base and "napari" not in base.replace("napari-im2im", "")
    assert "PyQt6" in cfg.split("[options.extras_require]")[1]
    toml = (ROOT / "pyproject.toml").read_text()
    assert "build-backend" in toml and "dependencies" not in toml


def test_registry_and_config_round_trip():
    import json

    from im2im_core.config import from_dict, to_dict
    from im2im_core.models import build, config_from_dict, family_class, list_models

    names = list_models()
    assert "generator" in names
    for name in names:
        cls = family_class(name)
        cfg = cls.Config()
        again = config_from_dict(name, json.loads(json.dumps(to_dict(cfg))))
        assert again == cfg, name
        assert type(build(again)) is cls
    import pytest

    from im2im_core.errors import ConfigError
    from im2im_core.models.generator import GeneratorOnlyConfig

    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(GeneratorOnlyConfig, {"bogus": 1})
    with pytest.raises(ConfigError, match="unknown"):
        family_class("no_such_family")
