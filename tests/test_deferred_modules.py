"""Modules great-expectations imports but nkru's suites never use are loaded only when used.

scipy.stats and altair are about 0.9 s of great-expectations' 2.3 s import. `nkru.layers.expectations`
puts a stand-in (`_Deferred`) for each in `sys.modules` before importing great-expectations; the
first use imports the real module. Each test runs in a fresh interpreter: in this one
great-expectations may be imported already.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.slow  # imports great-expectations afresh in many subprocesses


def _run(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NKRU_IN_PROCESS": "1", "TQDM_DISABLE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.split()


def test_validating_and_building_data_docs_never_load_them(tmp_path):
    out = _run(f"""
        import sys
        from nkru import api
        from nkru.layers.expectations import DEFERRED_MODULES
        report = api.validate_package({str(REPO)!r}, options=api.Options(data_docs={str(tmp_path / 'docs')!r}))
        layer = next(l for l in report.layers if l.layer == "expectations")
        print(report.valid, layer.checks, *(type(sys.modules[m]).__name__ for m in DEFERRED_MODULES))
    """)
    assert out[0] == "True" and int(out[1]) > 90
    assert out[2:] == ["_Deferred", "_Deferred"]


def test_a_deferred_module_is_the_real_one_once_used():
    out = _run("""
        import sys
        from nkru.layers.expectations import _Deferred, _gx
        _gx()
        stand_in = sys.modules["scipy.stats"]
        print(isinstance(stand_in, _Deferred))
        import scipy.stats
        print(scipy.stats is stand_in)                      # an import statement does not load it
        print(round(scipy.stats.norm.cdf(0.0), 3))          # an attribute does
        real = sys.modules["scipy.stats"]
        print(isinstance(real, _Deferred), stand_in.norm is real.norm, "entropy" in dir(stand_in))
        from scipy.stats import entropy
        print(entropy is real.entropy)
        import altair
        print(isinstance(altair.__version__, str), type(sys.modules["altair"]).__name__)
    """)
    assert out == ["True", "True", "0.5", "False", "True", "True", "True", "True", "module"]


def test_great_expectations_own_use_loads_them():
    """The KL-divergence expectation needs scipy.stats: it runs as if nothing were deferred."""
    out = _run("""
        import sys
        import pandas as pd
        from nkru.layers.expectations import _gx
        gx = _gx()
        context = gx.get_context(mode="ephemeral")
        batch = (context.data_sources.add_pandas("p").add_dataframe_asset("a").add_batch_definition_whole_dataframe("b")
                 .get_batch(batch_parameters={"dataframe": pd.DataFrame({"x": ["a", "a", "a", "b"]})}))
        expectation = gx.expectations.ExpectColumnKLDivergenceToBeLessThan(
            column="x", partition_object={"values": ["a", "b"], "weights": [0.5, 0.5]}, threshold=0.01)
        result = batch.validate(expectation)
        print(result.success, round(result.result["observed_value"], 4), type(sys.modules["scipy.stats"]).__name__)
    """)
    assert out == ["False", "0.1308", "module"]


def test_only_modules_not_yet_imported_and_importable_are_deferred():
    out = _run("""
        import sys
        import altair
        from nkru.layers import expectations
        expectations._defer("altair")
        expectations._defer("nkru_there_is_no_such_module")
        print(sys.modules["altair"] is altair, "nkru_there_is_no_such_module" in sys.modules)
    """)
    assert out == ["True", "False"]


def test_a_module_that_fails_to_import_fails_each_time_it_is_used(tmp_path):
    (tmp_path / "nkru_broken_module.py").write_text("raise RuntimeError('broken on import')\n", encoding="utf-8")
    out = _run(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from nkru.layers import expectations
        expectations._defer("nkru_broken_module")
        import nkru_broken_module
        for attempt in range(2):
            try:
                nkru_broken_module.anything
            except RuntimeError as error:
                print(str(error).replace(" ", "_"), type(sys.modules["nkru_broken_module"]).__name__)
    """)
    assert out == ["broken_on_import", "_Deferred"] * 2


DEFERRED = ["scipy.stats", "altair"]


@pytest.fixture(scope="module")
def imported_by_great_expectations() -> dict[str, str]:
    """Which deferred modules a bare `import great_expectations` loads, from one fresh interpreter."""
    out = _run(f"""
        import sys
        import great_expectations
        for name in {DEFERRED!r}:
            print(name, name in sys.modules)
    """)
    assert len(out) == 2 * len(DEFERRED)
    return dict(zip(out[::2], out[1::2]))


@pytest.mark.parametrize("name", DEFERRED)
def test_great_expectations_still_imports_them(name: str, imported_by_great_expectations):
    """If great-expectations stops importing a deferred module, the stand-in is pointless: drop it."""
    assert imported_by_great_expectations[name] == "True"


def test_threads_asking_at_once_get_one_real_module():
    out = _run("""
        import sys, threading
        from nkru.layers.expectations import _gx
        _gx()
        stand_in = sys.modules["scipy.stats"]
        found, start = [], threading.Barrier(8)

        def ask():
            start.wait()
            found.append(stand_in.norm)

        threads = [threading.Thread(target=ask) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(len(found), len({id(f) for f in found}), found[0] is sys.modules["scipy.stats"].norm)
    """)
    assert out == ["8", "1", "True"]
