import pytest
from pydantic import Field

import curate
from curate.errors import PluginError, RecipeError
from curate.registry import Origin, Registry

ORIGIN_A, ORIGIN_B = Origin("plugin-a", "pkg-a", "1.0"), Origin("plugin-b", "pkg-b", "2.0")


class GoodParams(curate.Params):
    column: str = Field("text", description="The column.")


class Good(curate.Filter):
    name = "filter.good"
    Params = GoodParams


class Undescribed(curate.Filter):
    name = "filter.undescribed"

    class Params(curate.Params):
        column: str = "text"


def test_register_records_origin_and_version():
    reg = Registry()
    reg.add("filter", Good, ORIGIN_A)
    assert reg.get("filter.good") is Good and reg.origin(Good) == ORIGIN_A
    assert Good.version == "1.0" and Good.package == "pkg-a"


def test_same_name_from_two_plugins_names_both():
    reg = Registry()
    reg.add("filter", Good, ORIGIN_A)
    other = type("Other", (curate.Filter,), {"name": "filter.good", "Params": GoodParams})
    with pytest.raises(PluginError) as err:
        reg.add("filter", other, ORIGIN_B)
    assert "plugin-a" in str(err.value) and "plugin-b" in str(err.value) and "filter.good" in str(err.value)


def test_params_must_be_described():
    with pytest.raises(PluginError, match=r"\['column'\] have no description"):
        Registry().add("filter", Undescribed, ORIGIN_A)


def test_kind_must_match_base_class():
    with pytest.raises(PluginError, match="not a subclass of curate.Dedup"):
        Registry().add("dedup", Good, ORIGIN_A)


def test_missing_name():
    nameless = type("Nameless", (curate.Filter,), {})
    with pytest.raises(PluginError, match="without a `name`"):
        Registry().add("filter", nameless, ORIGIN_A)


def test_unknown_name_suggests_close_match():
    reg = Registry()
    reg.add("filter", Good, ORIGIN_A)
    with pytest.raises(RecipeError, match="did you mean 'filter.good'"):
        reg.get("filter.godo")
