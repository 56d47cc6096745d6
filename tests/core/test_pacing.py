import pytest

from mmbss import pacing


def test_root_reference_values():
    lam = pacing.get("root", lambda0=0.1, t_grow=40)
    assert lam(0) == pytest.approx(0.1864, abs=1e-4)
    assert lam(9) == pytest.approx(0.5074, abs=1e-4)
    assert lam(38) < 1.0 and lam(39) == 1.0 and lam(100) == 1.0


def test_linear_geometric_step_constant_by_hand():
    assert pacing.get("linear", lambda0=0.2, t_grow=4)(0) == pytest.approx(0.4)
    assert pacing.get("linear", lambda0=0.2, t_grow=4)(2) == pytest.approx(0.8)
    # geometric: 0.1 * 10**(1/2) at half-way
    assert pacing.get("geometric", lambda0=0.1, t_grow=10)(4) == pytest.approx(0.1 * 10**0.5)
    step = pacing.get("step", lambda0=0.2, t_grow=8, num_steps=4)
    assert [round(step(t), 6) for t in range(8)] == [0.2, 0.4, 0.4, 0.6, 0.6, 0.8, 0.8, 1.0]
    assert pacing.get("constant")(0) == 1.0


@pytest.mark.parametrize("name", pacing.list_pacings())
def test_every_pacing_is_monotone_in_range_and_reaches_one(name):
    lam = pacing.get(name, lambda0=0.05, t_grow=13)
    values = [lam(t) for t in range(20)]
    assert all(0 < v <= 1 for v in values)
    assert values == sorted(values)
    assert values[12] == 1.0


def test_bad_parameters():
    with pytest.raises(ValueError, match=r"pacing: 'lambda0' must be a float in \(0.0, 1.0\]; got 0"):
        pacing.get("root", lambda0=0)
    with pytest.raises(ValueError, match=r"pacing: 'lambda0' must be a float in \(0.0, 1.0\]; got 1.5"):
        pacing.get("linear", lambda0=1.5)
    with pytest.raises(ValueError, match=r"pacing: 't_grow' must be an int >= 1; got 0"):
        pacing.get("root", t_grow=0)
    with pytest.raises(TypeError, match=r"pacing: 't_grow' must be an int >= 1; got 2.5"):
        pacing.get("root", t_grow=2.5)
    with pytest.raises(ValueError, match=r"unknown pacing 'roots'; valid names: constant, geometric, linear, root, step. Did you mean 'root'\?"):
        pacing.get("roots")
    with pytest.raises(ValueError, match=r"pacing: 'epoch' must be an int >= 0; got -1"):
        pacing.get("root")(-1)


def test_option_of_another_pacing_is_named_with_the_valid_ones():
    from mmbss import CurriculumScheduler

    with pytest.raises(ValueError, match=r"^pacing 'root' has no option 'num_steps'; its "
                                         r"options: lambda0, t_grow\.$"):
        pacing.get("root", num_steps=2)
    with pytest.raises(ValueError, match=r"^pacing 'root' has no option 'num_steps'; its "
                                         r"options: lambda0, t_grow\.$"):
        CurriculumScheduler(num_samples=10, pacing="root", num_steps=3)
    with pytest.raises(ValueError, match=r"^pacing 'root' has no option 'foo'; its options: "
                                         r"lambda0, t_grow\.$"):
        CurriculumScheduler(num_samples=10, foo=3)
    assert pacing.get("step", num_steps=2).params == {"num_steps": 2}
