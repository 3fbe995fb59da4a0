"""scripts/install.sh installs every first-party plugin (a new plugin folder must be added there)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_plugin_folder_is_installed_by_the_setup_script():
    script = (REPO / "scripts" / "install.sh").read_text()
    folders = sorted(p.name for p in (REPO / "plugins").iterdir() if (p / "pyproject.toml").exists())
    assert folders, "no plugins found"
    missing = [name for name in folders if f"plugins/{name}" not in script]
    assert not missing, f"scripts/install.sh does not install {missing}"
