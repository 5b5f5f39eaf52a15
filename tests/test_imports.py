"""Heavy libraries are imported only where they are used.

`nkru --help` and `import nkru.cli` must not import great-expectations,
pandera or pandas; importing any layer's module must not import
great-expectations (only running the expectations layer does). Each check runs
in a fresh interpreter, so what other tests imported does not count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO
from nkru.layers import LAYERS

HEAVY = ("great_expectations", "pandera", "pandas")
REPORT = "import json, sys; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"


def _imported(code: str) -> set[str]:
    script = f"{code}\n{REPORT}"
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_nkru_help_imports_nothing_heavy():
    code = ("import sys, contextlib, io\n"
            "sys.argv = ['nkru', '--help']\n"
            "from nkru.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n        main()\n    except SystemExit:\n        pass\n")
    modules = _imported(code)
    assert "nkru" in modules
    assert "validate" not in modules
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_import_validate_cli_imports_nothing_heavy():
    modules = _imported("import nkru.cli")
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_validate_help_imports_nothing_heavy():
    code = ("import sys, contextlib, io\n"
            "sys.argv = ['nkru', 'validate', '--help']\n"
            "from nkru.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n        main()\n    except SystemExit:\n        pass\n")
    assert not _imported(code) & set(HEAVY)


@pytest.mark.slow
@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_layer_module_does_not_import_great_expectations(layer):
    assert "great_expectations" not in _imported(f"import {LAYERS[layer]}")


def test_suites_and_renderers_do_not_import_great_expectations():
    modules = _imported("import nkru.suites, nkru.suites.generate, nkru.render.junit, nkru.render.github")
    assert "great_expectations" not in modules



def test_the_cli_returns_polars_freed_memory_at_once_unless_the_user_says_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    """`nkru` sets polars' jemalloc to hand freed pages back (docs/performance.md); a user's own setting wins."""
    import sys

    from nkru.cli import POLARS_ALLOCATOR, main

    variable, setting = POLARS_ALLOCATOR
    for before, after in ((None, setting), ("narenas:1", "narenas:1")):
        if before is None:
            monkeypatch.delenv(variable, raising=False)
        else:
            monkeypatch.setenv(variable, before)
        monkeypatch.setattr(sys, "argv", ["nkru", "--help"])
        with pytest.raises(SystemExit):
            main()
        assert os.environ[variable] == after
