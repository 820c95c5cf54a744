"""The house's layout rules: every module imports on its own, no room holds more than 15 modules, the import
contract (features -> nothing of ours; trialdesign -> features; serving -> features, trialdesign; only the CLI wires
training to serving) holds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("features", "training", "serving", "trialdesign")
MAX_MODULES_PER_FOLDER = 15
# Executed by MLflow when it loads a model (it registers the model object); importing it elsewhere is pointless.
NOT_IMPORTABLE_ALONE = {"features.model.pyfunc_entry"}


def project_modules() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            if name not in NOT_IMPORTABLE_ALONE:
                names.append(name)
    return names


# In one fresh interpreter, each module is imported with every project module forgotten first, so each import
# starts from nothing of ours (third-party libraries stay loaded: they are not what can form our cycles).
_IMPORT_EACH_ALONE = """
import importlib, sys, traceback
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m.split(".")[0] in ("features", "training", "serving", "trialdesign")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name + ": " + traceback.format_exc().strip().splitlines()[-1])
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_on_its_own() -> None:
    modules = project_modules()
    assert len(modules) > 60
    done = subprocess.run([sys.executable, "-c", _IMPORT_EACH_ALONE, *modules], capture_output=True, text=True,
                          cwd=REPO, timeout=600)
    assert done.returncode == 0, f"modules that fail to import alone:\n{done.stdout}{done.stderr[-2000:]}"


@pytest.mark.parametrize("package", PACKAGES)
def test_no_folder_holds_more_than_15_modules(package: str) -> None:
    crowded = {str(folder.relative_to(REPO)): n for folder in [REPO / package, *(REPO / package).rglob("*")]
               if folder.is_dir() and (n := len(list(folder.glob("*.py")))) > MAX_MODULES_PER_FOLDER}
    assert not crowded, f"folders with more than {MAX_MODULES_PER_FOLDER} modules: {crowded}"


def test_import_contract_holds() -> None:
    """The same check `make lint` runs (import-linter, contracts in pyproject.toml)."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint_imports), "--no-cache"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:]
    assert "0 broken" in done.stdout
