"""Every registered layer is a `nkru.layers.Layer`: its NAME, and `check(package, options: Options | None)`."""

from __future__ import annotations

import inspect
import typing

import pytest

from nkru import layers
from nkru.findings import LayerResult
from nkru.options import Options
from nkru.package import Package


@pytest.mark.parametrize("name", layers.names())
def test_every_registered_layer_satisfies_the_protocol(name):
    module = layers.load(name)
    assert isinstance(module, layers.Layer), name
    assert module.NAME == name
    hints = typing.get_type_hints(module.check)
    assert hints["package"] is Package and hints["return"] is LayerResult
    assert hints["options"] == Options | None, hints["options"]
    assert inspect.signature(module.check).parameters["options"].default is None
    if hasattr(module, "columns_read"):  # optional, but typed when present
        assert isinstance(module, layers.ReadsColumns)
        assert typing.get_type_hints(module.columns_read)["return"] == dict[str, set[str]]


def test_a_module_without_check_is_not_a_layer():
    import types

    stray = types.ModuleType("stray")
    stray.NAME = "stray"
    assert not isinstance(stray, layers.Layer)
    assert len(layers.names()) >= 5
