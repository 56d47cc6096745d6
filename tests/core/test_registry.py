"""Registry: names, defaults, and options a factory does not take."""

import pytest

from mmbss.core.registry import Registry


def _colours() -> Registry:
    reg = Registry("colour")

    @reg.register("red", shade=1)
    def red(*, shade: int, alpha: float = 1.0):
        return ("red", shade, alpha)

    @reg.register("any")
    def anything(**kw):
        return kw

    return reg


def test_create_merges_defaults_under_options():
    reg = _colours()
    assert reg.create("red") == ("red", 1, 1.0)
    assert reg.create("red", shade=2, alpha=0.5) == ("red", 2, 0.5)


def test_unknown_option_names_it_the_kind_the_name_and_the_valid_options():
    reg = _colours()
    with pytest.raises(ValueError, match=r"^colour 'red' has no option 'tint'; its options: "
                                         r"shade, alpha\.$"):
        reg.create("red", tint=3)
    with pytest.raises(ValueError, match=r"^colour 'red' has no options 'tint', 'hue'; its "
                                         r"options: shade, alpha\.$"):
        reg.create("red", tint=3, hue=1)
    with pytest.raises(ValueError, match=r"colour 'red' has no option 'shad'; its options: "
                                         r"shade, alpha\. Did you mean 'shade'\?"):
        reg.create("red", shad=3)


def test_factory_with_var_keywords_takes_any_option():
    assert _colours().create("any", tint=3) == {"tint": 3}


def test_unknown_name_and_twice_registered_keep_their_messages():
    reg = _colours()
    with pytest.raises(ValueError, match=r"unknown colour 'rde'; valid names: any, red\. Did you "
                                         r"mean 'red'\?"):
        reg.create("rde")
    with pytest.raises(ValueError, match="colour 'red' is already registered; pick another name"):
        reg.register("red")(lambda: None)
