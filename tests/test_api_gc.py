"""validate_package pauses Python's cyclic garbage collector while the layers run (a measured 0.2 s
on the real package, docs/performance.md) and always gives it back as it found it."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from nkru import api
from nkru.layers import rules


@pytest.mark.parametrize("enabled_before", [True, False])
def test_the_collector_is_as_it_was_after_a_run(real_package: Path, enabled_before: bool) -> None:
    seen: list[bool] = []
    (gc.enable if enabled_before else gc.disable)()
    try:
        original = rules.check

        def spy(package, options=None):
            seen.append(gc.isenabled())
            return original(package, options)

        rules.check, restore = spy, original
        try:
            report = api.validate_package(real_package, only=["structure", "rules"])
        finally:
            rules.check = restore
        assert gc.isenabled() is enabled_before
    finally:
        gc.enable()
    assert seen == [False] and not report.errors


def test_the_collector_comes_back_after_a_layer_crashes(real_package: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(package, options=None):
        raise RuntimeError("boom")

    monkeypatch.setattr(rules, "check", crash)
    report = api.validate_package(real_package, only=["rules"])
    assert [f.code for f in report.findings] == ["layer-error"]
    assert gc.isenabled()
