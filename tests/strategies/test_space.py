"""Search-space rows: samplers' values to parameter values (canonical form) and unit-cube points to
values (random search, QMC, CMA-ES)."""

from __future__ import annotations

import numpy as np

from lq_engine.authoring.space import Dimension, SearchSpace

INT_STEP = Dimension("n", "int", 2, 9, 2)  # lattice 2, 4, 6, 8 (9 is not on it)
LOG_INT = Dimension("w", "int", 1, 100, 1, log=True)
FLOAT_STEP = Dimension("f", "float", 0.0, 1.0, 0.1)
FLOAT = Dimension("x", "float", -1.0, 1.0)
CHOICE = Dimension("s", "choice", choices=("long", "short", "both"))
FIXED = Dimension("k", "int", 5, 5, 1)
SPACE = SearchSpace("t", (INT_STEP, LOG_INT, FLOAT_STEP, FLOAT, CHOICE, FIXED))


def test_canonical_rounds_to_the_step_lattice_inside_the_range():
    assert INT_STEP.canonical(np.array([1.0, 2.9, 3.1, 8.6, 9.4, 12.0])).tolist() == [2, 2, 4, 8, 8, 8]
    assert FLOAT_STEP.canonical(np.array([0.26, 0.35000001, -0.2, 1.3])).tolist() == [0.3, 0.4, 0.0, 1.0]
    assert FLOAT.canonical(np.array([-2.0, 0.25, 3.0])).tolist() == [-1.0, 0.25, 1.0]
    assert CHOICE.canonical(np.array([0.0, 2.0, 2.4])).tolist() == [0, 2, 2]
    zero = Dimension("z", "float", -1.0, 1.0, 0.5).canonical(np.array([-0.0, -0.1]))
    assert [np.signbit(v) for v in zero] == [False, False]  # one key for 0.0


def test_unit_points_cover_each_dimension_uniformly():
    u = np.random.default_rng(0).random((60_000, len(SPACE.free)))
    rows = SPACE.from_unit(u)
    sets = SPACE.decode(rows)
    assert SPACE.free == (0, 1, 2, 3, 4)
    assert {p["k"] for p in sets} == {5}  # the fixed dimension keeps its value
    counts = np.unique(rows[:, 0], return_counts=True)
    assert counts[0].tolist() == [2, 4, 6, 8] and np.ptp(counts[1]) < 0.05 * 15_000
    assert sorted({p["f"] for p in sets}) == [round(0.1 * i, 12) for i in range(11)]
    assert {p["s"] for p in sets} == {"long", "short", "both"}
    w = rows[:, 1]
    assert w.min() == 1 and w.max() == 100  # endpoints reachable
    # log scale over [0.5, 100.5] (half a step beyond each end, as Optuna samples a log int)
    share = (np.log(10.5) - np.log(0.5)) / (np.log(100.5) - np.log(0.5))
    assert abs(np.mean(w <= 10) - share) < 0.01
    x = rows[:, 3]
    assert -1.0 <= x.min() and x.max() <= 1.0 and abs(np.mean(x)) < 0.02
    assert all(isinstance(p["n"], int) and isinstance(p["f"], float) for p in sets[:10])


def test_equal_parameter_values_have_equal_canonical_bytes():
    a = SPACE.canonical(np.array([[3.9, 50.4, 0.30000000000000004, 0.5, 1.0, 5.0]]))
    b = SPACE.canonical(np.array([[4.1, 49.6, 0.3, 0.5, 0.9, 5.2]]))
    assert a.tobytes() == b.tobytes()
    assert SPACE.decode(a) == [{"n": 4, "w": 50, "f": 0.3, "x": 0.5, "s": "short", "k": 5}]


def test_a_space_with_nothing_free_gives_its_one_point():
    space = SearchSpace("t", (FIXED, Dimension("s", "choice", choices=("long",))))
    assert space.free == ()
    rows = space.from_unit(np.random.default_rng(0).random((3, 0)))
    assert space.decode(space.canonical(rows)) == [{"k": 5, "s": "long"}] * 3
