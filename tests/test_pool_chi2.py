"""mice's D2: chi-squared statistics pooled over imputations (Li et al. 1991)."""

import math

import numpy as np
import pytest
from scipy import stats

from emimpute import Chi2Test, pool_chi2


def test_d2_equals_the_formula_on_a_hand_checked_example():
    # Statistics 4, 9, 16 (square roots 2, 3, 4: mean 3, sample variance 1),
    # k = 2, m = 3, by hand: r2 = (1 + 1/3) 1 = 4/3; mean 29/3, so D2 =
    # (29/6 - (4/2)(4/3)) / (1 + 4/3) = 13/14; v2 = 2^(-1) 2 (1 + 3/4)^2 =
    # 49/16. Rounding only (a few operations on exact binary fractions and
    # thirds: 1e-15 relative; 1e-12 claimed).
    test = pool_chi2([4.0, 9.0, 16.0], df=2)
    assert isinstance(test, Chi2Test)
    assert test.riv == pytest.approx(4.0 / 3.0, rel=1e-12)
    assert test.statistic == pytest.approx(13.0 / 14.0, rel=1e-12)
    assert test.df1 == 2
    assert test.df2 == pytest.approx(49.0 / 16.0, rel=1e-12)
    expected = stats.f.sf(13.0 / 14.0, 2, 49.0 / 16.0)
    assert test.p_value == pytest.approx(expected, rel=1e-12)


def test_d2_equals_the_formula_on_random_statistics():
    # The textbook formula (van Buuren 2018, sec. 5.3.4) written out
    # independently, for several m and k, non-integer k included.
    rng = np.random.default_rng(0)
    for m, k in [(2, 1), (5, 3), (20, 2.5), (50, 10)]:
        d = rng.chisquare(k, size=m) * rng.uniform(0.5, 2.0, size=m)
        roots = np.sqrt(d)
        r = (1 + 1 / m) * sum((roots - roots.mean()) ** 2) / (m - 1)
        statistic = (d.mean() / k - (m + 1) / (m - 1) * r) / (1 + r)
        v = k ** (-3 / m) * (m - 1) * (1 + 1 / r) ** 2
        test = pool_chi2(list(d), df=k)
        assert test.statistic == pytest.approx(statistic, rel=1e-12)
        assert test.df2 == pytest.approx(v, rel=1e-12)
        assert test.p_value == pytest.approx(stats.f.sf(statistic, k, v), rel=1e-10)
        assert test.df1 == k


def test_equal_statistics_give_the_complete_data_test():
    # No spread between imputations: r2 = 0, v2 infinite, and the p-value is
    # each table's own chi-squared p-value.
    test = pool_chi2([7.5] * 4, df=3)
    assert test.riv == 0.0
    assert test.df2 == math.inf
    assert test.statistic == pytest.approx(2.5, rel=1e-15)
    assert test.p_value == pytest.approx(stats.chi2.sf(7.5, 3), rel=1e-12)


def test_a_negative_statistic_has_p_value_one():
    # Square roots 0 and 4: r2 = 1.5 * 8 = 12, D2 = (8 - 3 * 12) / 13 < 0.
    test = pool_chi2([0.0, 16.0], df=1)
    assert test.statistic == pytest.approx(-28.0 / 13.0, rel=1e-12)
    assert test.p_value == 1.0


def test_prints_as_mice_d2():
    text = str(pool_chi2([4.0, 9.0, 16.0], df=2))
    lines = text.splitlines()
    assert lines[0] == "Pooled chi-squared statistics (Li et al. 1991, D2)"
    assert lines[1].split() == ["test", "statistic", "df1", "df2", "p.value", "riv"]
    assert lines[2].split()[:4] == ["D2", "0.9285714", "2", "3.0625"]
    assert repr(pool_chi2([4.0, 9.0, 16.0], df=2)) == text


@pytest.mark.parametrize(
    "statistics, df, match",
    [
        ([3.0], 1, "at least two"),
        ([[3.0, 4.0]], 1, "shape"),
        ([3.0, -1.0], 1, "non-negative"),
        ([3.0, np.nan], 1, "finite"),
        ([3.0, np.inf], 1, "finite"),
        ([3.0, 4.0], 0, "df must be a positive number"),
        ([3.0, 4.0], -2, "df must be a positive number"),
        ([3.0, 4.0], True, "df must be a positive number"),
        ([3.0, 4.0], "2", "df must be a positive number"),
    ],
)
def test_bad_input_is_refused_naming_the_argument(statistics, df, match):
    with pytest.raises(ValueError, match=match):
        pool_chi2(statistics, df=df)
