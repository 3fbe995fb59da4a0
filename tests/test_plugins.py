"""Plugin loading: entry points, environment switches, failing plugins, temporary plugins."""

import importlib.metadata as md
import types

import pytest

import curate
from curate import plugins


class FakeDist:
    name, version = "curate-fake", "9.9"


class FakeEntryPoint:
    def __init__(self, name, loader):
        self.name, self._loader, self.dist = name, loader, FakeDist()

    def load(self):
        return self._loader()


def _module_with_filter(name):
    mod = types.ModuleType(name)

    class F(curate.Filter):
        """A filter from a fake plugin."""

        def drop_reason(self, df):
            raise NotImplementedError

    F.name = f"filter.{name}"

    @curate.hookimpl
    def curate_register_filters(register):
        register(F)

    mod.curate_register_filters = curate_register_filters
    return mod


def _broken():
    raise ImportError("No module named 'heavy_dependency'")


@pytest.fixture
def fake_entry_points(monkeypatch):
    eps = [FakeEntryPoint("good", lambda: _module_with_filter("good")), FakeEntryPoint("broken", _broken)]
    real = md.entry_points
    monkeypatch.setattr(md, "entry_points", lambda group=None, **kw: eps if group == "curate" else real(group=group, **kw))
    plugins.reset()
    yield
    plugins.reset()


def test_entry_points_load_and_failures_are_recorded(fake_entry_points, monkeypatch):
    monkeypatch.delenv("CURATE_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("CURATE_DISABLE_PLUGINS", raising=False)
    reg = plugins.registry()
    assert reg.find("filter.good") is not None
    assert reg.origin(reg.find("filter.good")).package == "curate-fake"
    assert "broken" in reg.failed and "heavy_dependency" in reg.failed["broken"]
    # Built-ins still work although one plugin is broken.
    assert reg.find("dedup.exact") is not None


def test_disable_prevents_import(fake_entry_points, monkeypatch):
    monkeypatch.setenv("CURATE_DISABLE_PLUGINS", "broken,good")
    reg = plugins.registry()
    assert reg.find("filter.good") is None and reg.failed == {}


def test_load_only_listed(fake_entry_points, monkeypatch):
    monkeypatch.setenv("CURATE_LOAD_PLUGINS", "good")
    reg = plugins.registry()
    assert reg.find("filter.good") is not None and "broken" not in reg.failed
    monkeypatch.setenv("CURATE_LOAD_PLUGINS", "")
    plugins.reset()
    assert plugins.registry().find("filter.good") is None
    assert plugins.registry().find("read.jsonl") is not None  # built-ins always load


def test_temporary_plugin_is_removed_afterwards():
    mod = _module_with_filter("temp")
    with plugins.temporary_plugin(mod, "temp") as reg:
        assert reg.find("filter.temp") is not None
    assert plugins.registry().find("filter.temp") is None


def test_curate_plugin_fixture(curate_plugin):
    reg = curate_plugin(_module_with_filter("viafixture"))
    assert reg.find("filter.viafixture") is not None


@pytest.mark.parametrize("installed", [False, True], ids=["not-installed", "installed"])
def test_temporary_plugin_works_whether_or_not_the_plugin_is_installed(monkeypatch, installed):
    """A plugin author's test registers the module; once the package is installed, the same module
    object is already registered through its entry point, and is used as it is."""
    mod = _module_with_filter("authored")
    eps = [FakeEntryPoint("authored", lambda: mod)] if installed else []
    real = md.entry_points
    monkeypatch.setattr(md, "entry_points", lambda group=None, **kw: eps if group == "curate" else real(group=group, **kw))
    monkeypatch.delenv("CURATE_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("CURATE_DISABLE_PLUGINS", raising=False)
    plugins.reset()
    try:
        with plugins.temporary_plugin(mod) as reg:
            assert reg.find("filter.authored") is not None
            assert reg.origin(reg.find("filter.authored")).package == ("curate-fake" if installed else None)
        # An installed plugin stays registered (under its entry-point name); a temporary one is gone.
        assert (plugins.registry().find("filter.authored") is not None) == installed
        assert plugins.plugin_manager().is_registered(mod) == installed
    finally:
        plugins.reset()


def test_curate_plugin_fixture_with_an_already_registered_plugin(curate_plugin):
    mod = _module_with_filter("preregistered")
    pm = plugins.plugin_manager()
    pm.register(mod, name="preregistered")  # as its entry point does once the package is installed
    try:
        reg = curate_plugin(mod)
        assert reg.find("filter.preregistered") is not None
        assert curate_plugin(mod).find("filter.preregistered") is not None  # twice is fine too
    finally:
        pm.unregister(name="preregistered")
        plugins.reset()


def test_trace_env_prints_hook_calls(monkeypatch, capsys):
    monkeypatch.setenv("CURATE_TRACE_PLUGINS", "1")
    plugins.reset()
    try:
        plugins.registry()
        plugins.plugin_manager().hook.curate_stage_finished(recipe=None, stage_id="s", stats=None, run_dir=None)
    finally:
        monkeypatch.delenv("CURATE_TRACE_PLUGINS")
        plugins.reset()
    err = capsys.readouterr().err
    assert "curate_stage_finished" in err
    # Registration calls are traced too, each with the plugin it came from.
    assert "curate_register_readers plugin='curate'" in err and "curate_register_engines plugin='openai'" in err


def test_component_of_a_broken_plugin_names_the_plugin(fake_entry_points, monkeypatch):
    monkeypatch.delenv("CURATE_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("CURATE_DISABLE_PLUGINS", raising=False)
    from curate.errors import RecipeError

    with pytest.raises(RecipeError) as err:
        plugins.registry().get("filter.broken")
    assert "'broken' (ImportError: No module named 'heavy_dependency')" in str(err.value)
