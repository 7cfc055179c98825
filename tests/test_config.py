import pytest

from aimds.config import load_settings
from aimds.errors import ConfigError
from aimds.types import ThreatKind


def test_yaml_file_and_environment(tmp_path, monkeypatch):
    path = tmp_path / "aimds.yaml"
    path.write_text("max_input_chars: 5000\ncache_size: 7\nthresholds:\n  jailbreak: {review: 0.3, block: 0.4}\n")
    monkeypatch.setenv("AIMDS_CACHE_SIZE", "9")
    settings = load_settings(path)
    assert settings.max_input_chars == 5000
    assert settings.cache_size == 9  # the environment wins over the file
    assert settings.thresholds[ThreatKind.JAILBREAK].block == 0.4


def test_config_path_from_environment(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text("semantic: off\n")
    monkeypatch.setenv("AIMDS_CONFIG", str(path))
    assert load_settings().semantic == "off"


@pytest.mark.parametrize(
    "content,key",
    [
        ("max_input_chars: -1\n", "max_input_chars"),
        ("no_such_setting: 1\n", "no_such_setting"),
        ("thresholds:\n  jailbreak: {review: 0.9, block: 0.1}\n", "thresholds"),
        ("semantic_band: [0.9, 0.1]\n", "semantic_band"),
        ("- just\n- a list\n", "mapping"),
        ("key: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_config_names_the_key(tmp_path, content, key):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=key):
        load_settings(path)


def test_bad_environment_value_names_the_key(monkeypatch):
    monkeypatch.setenv("AIMDS_CHUNK_CHARS", "lots")
    with pytest.raises(ConfigError, match="chunk_chars"):
        load_settings()


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.yaml")


from hypothesis import given, settings as hyp_settings, strategies as st  # noqa: E402

from aimds.config import Settings  # noqa: E402

_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3),
    max_leaves=10,
)


@hyp_settings(max_examples=200, deadline=None)
@given(values=st.dictionaries(st.sampled_from(sorted(Settings.model_fields)), _VALUES, max_size=4))
def test_any_setting_value_is_accepted_or_a_config_error(values):
    try:
        load_settings(None, **values)
    except ConfigError:
        pass
