"""Bounds and transformations of the numeric features of an imputer.

A feature with a bounded support (a concentration, a count, a proportion)
is badly served by a Gaussian: conditional means and draws may fall outside
the support. Two remedies, as in Amelia (``bounds``, ``logs``, ``sqrts``,
``lgstc``) and scikit-learn's ``IterativeImputer`` (``min_value``,
``max_value``):

- a **transformation** per feature (``'log'``, ``'sqrt'``, ``'logit'``):
  EM is fit to the transformed feature and imputations are mapped back, so
  they lie inside the transformation's support, as the output's float type
  represents it (:func:`inside_support`);
- **bounds** per feature: conditional means are clipped to
  ``[min_value, max_value]``; posterior draws that fall outside are redrawn
  (the row's whole missing part, jointly, up to ``MAX_REDRAWS`` times: a
  draw from the conditional distribution truncated to the bounds), and the
  few still outside are then clipped.

Observed entries are never transformed back and forth: they are copied from
the input, bit for bit.

Each transformation is a small frozen object, a :class:`Transform`
(:class:`Log`, :class:`Sqrt`, :class:`Logit`, which holds its feature's
bounds); the names given in ``feature_transforms`` are parsed into them in
one place, :func:`parse_transform`, which :class:`FeatureSupport` calls on
construction. Each acts elementwise on one feature's column:

- ``forward(x)``: data units to the model space EM is fit in;
- ``inverse(y)``: model space back to data units;
- ``derivative(y)``: ``d x / d y`` of ``inverse``;
- ``spread(mean, std)``: a model-space standard deviation ``std`` at the
  conditional mean ``mean``, in data units;
- ``check(observed, feature)``: raise a ``ValueError`` naming ``feature``
  where an observed value lies outside the transformation's domain;
- ``inside(values, dtype)``: data-unit values in ``dtype``, inside the
  transformation's support as ``dtype`` represents it.

:class:`FeatureSupport` holds one transformation (or None) per feature and
applies each to its feature's column: a loop over the transformed features,
each step vectorised over the rows, O(n * features transformed).
"""

import sys
from dataclasses import dataclass, replace
from numbers import Integral, Real

import numpy as np
from scipy.special import expit, ndtr

from emimpute._em._impute import Completion, complete
from emimpute._sklearn_compat import is_scalar_nan

# Rejection rounds for draws outside the bounds; each round redraws only the
# rows still outside, so its cost shrinks geometrically.
MAX_REDRAWS = 100


def _feature_index(key, n_features, feature_names, argument):
    """Input index of a feature given by index or by name."""
    if isinstance(key, Integral) and not isinstance(key, bool):
        if not -n_features <= key < n_features:
            raise ValueError(
                f"{argument}: feature index {key} is out of range for "
                f"{n_features} features."
            )
        return int(key) % n_features
    if isinstance(key, str) and feature_names is not None:
        matches = np.flatnonzero(np.asarray(feature_names, dtype=object) == key)
        if len(matches):
            return int(matches[0])
    known = "" if feature_names is None else f" (features: {list(feature_names)})"
    raise ValueError(
        f"{argument}: unknown feature {key!r}; give an index or a name of a "
        f"feature seen in fit{known}."
    )


def _is_series(value):
    """Whether ``value`` is a pandas Series (without importing pandas)."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(value, pd.Series)


def _per_feature(value, default, n_features, feature_names, argument):
    """A per-feature array (object) from a scalar, a sequence or a dict.

    A dict that names a feature twice (by name and by index, or by two
    indices such as 0 and -2 of 2 features) is an error, even with the same
    value: its two keys are different, so which entry counts would depend
    on the dict's order, which the caller cannot see.
    """
    if _is_series(value):
        # A Series is a dict by its labels (feature names, or indices for
        # a RangeIndex), not a sequence whose labels would be dropped. Its
        # NaN is pandas' None (a Series turns None into NaN), and a label
        # given twice is refused, as a dict naming a feature twice is.
        if value.index.has_duplicates:
            twice = value.index[value.index.duplicated()].unique().tolist()
            raise ValueError(
                f"{argument}: the Series names {twice} more than once; "
                "name each feature once."
            )
        value = {
            key: None if is_scalar_nan(item) else item for key, item in value.items()
        }
    if isinstance(value, dict):
        resolved = np.full(n_features, default, dtype=object)
        keys = {}
        for key, item in value.items():
            j = _feature_index(key, n_features, feature_names, argument)
            if j in keys:
                first = keys[j]
                feature = repr(feature_names[j]) if feature_names is not None else j
                raise ValueError(
                    f"{argument}: feature {feature} is named twice, as {first!r} "
                    f"(value {value[first]!r}) and as {key!r} (value {item!r}); "
                    "name each feature once."
                )
            keys[j] = key
            resolved[j] = item
        return resolved
    if value is None or isinstance(value, str | Real):
        return np.full(n_features, default if value is None else value, dtype=object)
    resolved = np.asarray(list(value), dtype=object)
    if resolved.shape != (n_features,):
        raise ValueError(
            f"{argument} must be "
            + ("a number, " if argument != "feature_transforms" else "")
            + f"a dict by feature, or have one entry per feature ({n_features}); "
            f"got {len(resolved)} entries."
        )
    return resolved


def _bound(values, default, argument):
    try:
        bounds = np.array(
            [default if v is None else float(v) for v in values], dtype=float
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{argument} must hold numbers; got {list(values)}.") from exc
    if np.isnan(bounds).any():
        raise ValueError(
            f"{argument} must not be NaN (got {list(values)}); for no bound use "
            f"{default} (or None in a list or dict)."
        )
    return bounds


# Where m / s exceeds this, Y < 0 has probability below 1e-15: the square's
# moments are those of Y^2 untruncated, whose variance has no cancellation.
_UNTRUNCATED = 8.0


def _positive_square_std(mean, std):
    """The standard deviation of ``max(Y, 0)^2``, ``Y ~ N(mean, std^2)``.

    ``E[Y^k; Y > 0]`` for k = 2, 4 from the standard normal's moments above
    ``a = -mean / std`` (``Q = 1 - Phi(a)``, ``phi = phi(a)``: ``Q``,
    ``phi``, ``a phi + Q``, ``(a^2 + 2) phi``, ``(a^3 + 3 a) phi + 3 Q``);
    ``sqrt(4 m^2 s^2 + 2 s^4)``, the untruncated square's, where ``m / s >
    _UNTRUNCATED`` (the difference of moments would cancel there).
    Elementwise; 0 where ``std`` is 0 or where ``m / s`` is so negative
    that ``phi`` underflows (the value is 0 to double precision).
    """
    m, s = np.asarray(mean, dtype=float), np.asarray(std, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        a = np.where(s > 0, -m / s, -np.inf)
        a = np.clip(a, -_UNTRUNCATED, None)  # the untruncated branch's rows
        q = ndtr(-a)
        phi = np.exp(-0.5 * a**2) / np.sqrt(2.0 * np.pi)
        moments = (
            q,
            phi,
            a * phi + q,
            (a**2 + 2.0) * phi,
            (a**3 + 3.0 * a) * phi + 3.0 * q,
        )
        second = m**2 * moments[0] + 2.0 * m * s * moments[1] + s**2 * moments[2]
        fourth = (
            m**4 * moments[0]
            + 4.0 * m**3 * s * moments[1]
            + 6.0 * m**2 * s**2 * moments[2]
            + 4.0 * m * s**3 * moments[3]
            + s**4 * moments[4]
        )
        truncated = np.sqrt(np.maximum(fourth - second**2, 0.0))
        untruncated = np.sqrt(4.0 * m**2 * s**2 + 2.0 * s**4)
    return np.where(m > _UNTRUNCATED * s, untruncated, np.where(s > 0, truncated, 0.0))


def _open_end(bound, toward, dtype):
    """The value of ``dtype`` nearest ``bound`` strictly on the ``toward`` side.

    ``toward`` is +1 for a lower bound (the smallest value above it), -1 for
    an upper one; compared with ``bound`` in float64, as the domain check
    (:meth:`FeatureSupport.check_domain`) compares observed values.
    """
    with np.errstate(over="ignore"):
        end = dtype.type(bound)  # the nearest value, maybe the bound itself
    if toward * (float(end) - bound) <= 0.0:
        end = np.nextafter(end, dtype.type(toward * np.inf))
    return end


class Transform:
    """A feature's transformation: the protocol of the module docstring.

    A subclass sets ``name`` (its name in ``feature_transforms``) and
    implements ``forward``, ``inverse``, ``derivative`` and ``check``; the
    others have defaults here. The values are 1-D arrays of float64, one
    feature's column; NaN stays NaN.
    """

    name = None

    @classmethod
    def of(cls, lower, upper):
        """The transformation of a feature bounded by ``lower`` and ``upper``."""
        return cls()

    def spread(self, mean, std):
        """The delta method's ``|inverse'(mean)| std``."""
        return std * np.abs(self.derivative(mean))

    def inside(self, values, dtype):
        """``values`` in ``dtype``, inside the support (:func:`inside_support`)."""
        dtype = np.dtype(dtype)
        finite = np.finfo(dtype).max
        return self._onto_support(np.clip(values, -finite, finite).astype(dtype))

    def _onto_support(self, out):
        """Finite values of ``out``'s type moved onto the support, in place."""
        return out

    def _refuse(self, feature, needs):
        prefix = f"feature_transforms: {self.name!r} on feature {feature}"
        raise ValueError(f"{prefix} {needs}")


@dataclass(frozen=True)
class Log(Transform):
    """``y = log(x)``, of a positive feature."""

    name = "log"

    def forward(self, x):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.log(x)

    def inverse(self, y):
        with np.errstate(over="ignore"):
            return np.exp(y)

    def derivative(self, y):
        return self.inverse(y)

    def check(self, observed, feature):
        if np.any(observed <= 0.0):
            self._refuse(
                feature,
                f"needs positive observed values, but its minimum is "
                f"{observed.min()}; shift the feature, or use 'sqrt' for a "
                "non-negative one.",
            )

    def _onto_support(self, out):
        # A value that underflowed to 0: the smallest positive one.
        out[out <= 0.0] = np.nextafter(out.dtype.type(0.0), out.dtype.type(1.0))
        return out


@dataclass(frozen=True)
class Sqrt(Transform):
    """``y = sqrt(x)``, of a non-negative feature."""

    name = "sqrt"

    def forward(self, x):
        with np.errstate(invalid="ignore"):
            return np.sqrt(x)

    def inverse(self, y):
        # A negative value of the square root is below its support's edge:
        # it maps to 0, not to its square.
        with np.errstate(over="ignore"):
            return np.maximum(y, 0.0) ** 2

    def derivative(self, y):
        with np.errstate(over="ignore"):
            return 2.0 * np.maximum(y, 0.0)

    def spread(self, mean, std):
        """The standard deviation of ``max(Y, 0)^2`` itself, ``Y`` Gaussian of
        mean ``mean`` and standard deviation ``std``, which the draws follow:
        the delta method's vanishes where ``mean <= 0`` (``inverse`` is flat
        there), which would read as an observed cell. From the moments of
        ``Y`` truncated at 0 (:func:`_positive_square_std`)."""
        return _positive_square_std(mean, std)

    def check(self, observed, feature):
        if np.any(observed < 0.0):
            self._refuse(
                feature,
                f"needs non-negative observed values, but its minimum is "
                f"{observed.min()}; shift the feature first.",
            )


@dataclass(frozen=True)
class Logit(Transform):
    """``y = logit((x - lower) / (upper - lower))``, of a feature strictly
    between its ``min_value`` (``lower``) and ``max_value`` (``upper``)."""

    lower: float
    upper: float
    name = "logit"

    @classmethod
    def of(cls, lower, upper):
        return cls(lower, upper)

    def forward(self, x):
        with np.errstate(invalid="ignore", divide="ignore"):
            p = (x - self.lower) / (self.upper - self.lower)
            return np.log(p) - np.log1p(-p)

    def inverse(self, y):
        # From the nearer bound, to the last bit on either side: the
        # lower + width / (1 + exp(-y)) this replaces rounded to the
        # upper bound itself for y above 36.7, as 1 - expit(y) would.
        width = self.upper - self.lower
        return np.where(
            y > 0.0, self.upper - width * expit(-y), self.lower + width * expit(y)
        )

    def derivative(self, y):
        # p (1 - p) with 1 - p = expit(-y) to the last bit: 1 - p computed
        # lost all its digits for y above 36.7 (a slope of 0, so a std of 0
        # and an infinite score for an observed value near the upper bound).
        return (self.upper - self.lower) * expit(y) * expit(-y)

    def check(self, observed, feature):
        low, high = self.lower, self.upper
        if not (np.isfinite(low) and np.isfinite(high)):
            self._refuse(
                feature,
                "maps (min_value, max_value) to the real line and needs both "
                "finite for that feature, e.g. min_value={feature: 0}, "
                "max_value={feature: 1}.",
            )
        if np.any((observed <= low) | (observed >= high)):
            self._refuse(
                feature,
                f"needs observed values strictly between min_value ({low}) and "
                f"max_value ({high}); widen the bounds.",
            )

    def _onto_support(self, out):
        # A value rounded onto a bound: the nearest one strictly inside.
        dtype = out.dtype
        ends = _open_end(self.lower, 1, dtype), _open_end(self.upper, -1, dtype)
        return np.clip(out, *ends, out=out)


KINDS = (Log, Sqrt, Logit)
TRANSFORMS = tuple(kind.name for kind in KINDS)


def parse_transform(name, lower=-np.inf, upper=np.inf):
    """The :class:`Transform` named ``name`` for a feature's bounds.

    The one place a name of ``feature_transforms`` becomes an object: None
    and a :class:`Transform` are returned as they are; another name must be
    one of ``TRANSFORMS`` (:meth:`FeatureSupport.fit` says which are not).

    >>> parse_transform("logit", 0.0, 1.0)
    Logit(lower=0.0, upper=1.0)
    """
    if name is None or isinstance(name, Transform):
        return name
    return KINDS[TRANSFORMS.index(name)].of(lower, upper)


def inside_support(values, name, lower, upper, dtype):
    """A back-transformed feature's values in ``dtype``, inside its support.

    Parameters
    ----------
    values : ndarray of float64
        The feature's values in the data's units.
    name : {'log', 'sqrt', 'logit'} or Transform
        Its transformation (:func:`parse_transform`).
    lower, upper : float
        Its bounds (those of 'logit'; the others' are not used).
    dtype : numpy dtype
        The float type the values are given in.

    Returns
    -------
    values : ndarray of ``dtype``
        Clipped to the finite range of ``dtype`` (``np.finfo(dtype).max``:
        ``exp`` or a square beyond it is not a number the output can hold,
        and ``inf`` is outside every support), then moved into the
        transformation's support as ``dtype`` represents it: a 'log' value
        that underflowed to 0 becomes the smallest positive value of
        ``dtype``; a 'logit' value that rounds onto ``lower`` or ``upper``
        becomes the nearest value of ``dtype`` strictly inside, so that the
        completed table passes the domain check of a refit with the same
        settings. Values already inside are unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> inside_support(np.array([0.5, 1.0 - 1e-10]), "logit", 0.0, 1.0, np.float32)
    array([0.5       , 0.99999994], dtype=float32)
    >>> inside_support(np.array([0.0, 1e39]), "log", 0.0, np.inf, np.float32)
    array([1.4012985e-45, 3.4028235e+38], dtype=float32)
    """
    return parse_transform(name, lower, upper).inside(values, dtype)


@dataclass(frozen=True)
class FeatureSupport:
    """Bounds and transformations of the numeric features the model sees.

    Attributes
    ----------
    lower, upper : ndarray of shape (n_numeric,)
        Bounds in the data's units (``-inf``/``inf`` when unbounded).
    transforms : tuple of Transform or None
        One per numeric feature: a :class:`Transform` or None. Names
        (``'log'``, ``'sqrt'``, ``'logit'``) given here are parsed
        (:func:`parse_transform`, a 'logit' with the feature's bounds).
    described : tuple of str
        How messages name each numeric feature (its name or input index).
    """

    lower: np.ndarray
    upper: np.ndarray
    transforms: tuple
    described: tuple = ()

    def __post_init__(self):
        parsed = tuple(
            parse_transform(name, low, high)
            for name, low, high in zip(
                self.transforms, self.lower, self.upper, strict=True
            )
        )
        object.__setattr__(self, "transforms", parsed)

    def __setstate__(self, state):
        # A support pickled before transformations were objects holds their
        # names: parsed as the constructor parses them.
        self.__dict__.update(state)
        self.__post_init__()

    @classmethod
    def fit(
        cls,
        min_value,
        max_value,
        feature_transforms,
        *,
        columns,
        n_features,
        feature_names,
        categorical=(),
    ):
        """Validate the imputer's parameters against the features seen in fit.

        Parameters
        ----------
        min_value, max_value, feature_transforms
            The imputer's parameters (see :class:`EMImputer`).
        columns : ndarray of int
            Input indices of the numeric features the model sees, in order:
            a numeric feature entirely missing at fit is not among them,
            and its bounds and transformation are validated, then unused.
        n_features : int
            Number of input features.
        feature_names : ndarray of str or None
        categorical : array-like of int, default=()
            Input indices of the categorical features (empty or not).

        Raises
        ------
        ValueError
            When a bound is not a number, ``min_value > max_value`` for a
            feature, a dict names a feature twice, or a transformation is
            unknown or set on a categorical feature; the message names the
            argument, the feature and the fix. Observed values outside a
            transformation's domain are refused by :meth:`model_data`, at
            fit as after.
        """
        names = feature_names
        lower = _bound(
            _per_feature(min_value, -np.inf, n_features, names, "min_value"),
            -np.inf,
            "min_value",
        )
        upper = _bound(
            _per_feature(max_value, np.inf, n_features, names, "max_value"),
            np.inf,
            "max_value",
        )
        transforms = _per_feature(
            feature_transforms, None, n_features, names, "feature_transforms"
        )

        def describe(j):
            return repr(names[j]) if names is not None else str(j)

        for name, values, bad in (
            ("min_value", lower, np.inf),
            ("max_value", upper, -np.inf),
        ):
            if np.any(values == bad):
                j = np.flatnonzero(values == bad)[0]
                raise ValueError(
                    f"{name} is {bad} for feature {describe(j)}: no value lies "
                    f"within it; for no bound use {-bad}."
                )
        crossed = np.flatnonzero(lower > upper)
        if len(crossed):
            j = crossed[0]
            raise ValueError(
                f"min_value ({lower[j]}) is greater than max_value ({upper[j]}) "
                f"for feature {describe(j)}: give min_value <= max_value."
            )
        categorical_set = set(np.asarray(categorical, dtype=int).tolist())
        for j, name in enumerate(transforms):
            if name is None:
                continue
            if name not in TRANSFORMS:
                raise ValueError(
                    f"feature_transforms: unknown transformation {name!r} for "
                    f"feature {describe(j)}; use one of {list(TRANSFORMS)} or None."
                )
            # A numeric feature entirely missing at fit is skipped (or kept
            # and filled with 0): its transformation, as its bounds, is
            # not used; a fold of cross-validation where a sparse feature
            # is empty fits as the others do.
            if j in categorical_set:
                raise ValueError(
                    f"feature_transforms: feature {describe(j)} is categorical; "
                    "transformations apply to numeric features."
                )
        return cls(
            lower=lower[columns],
            upper=upper[columns],
            transforms=tuple(transforms[columns]),
            described=tuple(describe(j) for j in columns),
        )

    def take(self, positions):
        """The support of the features at ``positions`` among this one's.

        A fit validates the parameters on every numeric feature, then keeps
        the features found to have an observed value: the support built for
        all of them (before a dask fit's pass over the rows, which finds
        the empty ones), taken at the kept positions, is the one
        :meth:`fit` builds from the kept ``columns``.
        """
        positions = np.asarray(positions, dtype=np.intp)
        return FeatureSupport(
            lower=self.lower[positions],
            upper=self.upper[positions],
            transforms=tuple(self.transforms[j] for j in positions),
            described=tuple(self.described[j] for j in positions)
            if self.described
            else (),
        )

    def check_domain(self, numeric, mask):
        """Raise a clear error where an observed value lies outside the
        domain of its feature's transformation (at fit and after)."""
        described = self.described or tuple(map(str, range(len(self.transforms))))
        for j, transform in self._transformed():
            transform.check(numeric[~mask[:, j], j], described[j])

    @property
    def transformed(self):
        """True when some feature has a transformation."""
        return any(name is not None for name in self.transforms)

    @property
    def constrained(self):
        """Per feature, whether it is bounded or transformed."""
        transformed = np.array([t is not None for t in self.transforms], dtype=bool)
        return transformed | np.isfinite(self.lower) | np.isfinite(self.upper)

    @property
    def is_identity(self):
        """True when nothing is bounded or transformed."""
        return not self.constrained.any()

    def _transformed(self):
        """``(j, transform)`` of each transformed feature."""
        return [(j, t) for j, t in enumerate(self.transforms) if t is not None]

    def to_model(self, numeric):
        """The features in the space EM is fit in (NaN stays NaN)."""
        out = np.array(numeric, dtype=float, copy=True)
        for j, transform in self._transformed():
            out[:, j] = transform.forward(out[:, j])
        return out

    def to_data(self, values):
        """Model-space values mapped back to the data's units.

        Inside each transformation's support in float64
        (:func:`inside_support`): finite, a 'log' value positive, a 'logit'
        value strictly between its bounds.
        """
        out = np.array(values, dtype=float, copy=True)
        for j, transform in self._transformed():
            out[:, j] = transform.inside(transform.inverse(out[:, j]), np.float64)
        return out

    def cast(self, numeric, dtype):
        """Data-unit values in ``dtype``, each transformed feature's inside
        its support as ``dtype`` represents it (:func:`inside_support`).

        The cast of a completion to the output's float type: a value that
        is inside in float64 may round onto a 'logit' bound, to 0 or
        overflow to ``inf`` in float32. The other features are cast as they
        are; observed values of a transformed feature, inside already,
        are unchanged.
        """
        if not self.transformed or np.dtype(dtype).kind != "f":
            return numeric.astype(dtype, copy=False)
        with np.errstate(over="ignore"):  # transformed columns replaced below
            out = numeric.astype(dtype)
        for j, transform in self._transformed():
            out[:, j] = transform.inside(numeric[:, j], dtype)
        return out

    def derivative(self, values):
        """``d x / d y`` of the back-transformation at model-space ``values``."""
        slope = np.ones_like(values, dtype=float)
        for j, transform in self._transformed():
            slope[:, j] = transform.derivative(values[:, j])
        return slope

    def spread(self, values, std):
        """The standard deviation in the data's units of model-space ``std``.

        Each transformed feature's ``spread`` at the conditional means
        ``values``: the delta method's ``|g'(m)| s`` (``g`` the
        back-transformation, :meth:`Transform.spread`); for 'sqrt', the
        standard deviation of ``max(Y, 0)^2`` itself (:meth:`Sqrt.spread`).
        The others' ``std`` is unchanged.
        """
        spread = np.array(std, dtype=float, copy=True)
        for j, transform in self._transformed():
            spread[:, j] = transform.spread(values[:, j], std[:, j])
        return spread

    def log_jacobian(self, numeric, mask):
        """Per row, ``sum log |d y / d x|`` over its observed transformed entries.

        The density of a row's observed entries in the data's units is that
        of the transformed entries times this Jacobian.
        """
        return self._model_log_jacobian(self.to_model(numeric), mask)

    def mean_log_jacobian(self, model_data):
        """The weighted mean over rows of :meth:`log_jacobian`.

        Of ``model_data``, already in model space (``model_data(data)``):
        the offset from the model's log-likelihood per row to the data's.
        """
        if not self.transformed:
            return 0.0  # also for a Dask array's data, which has no rows here
        per_row = self._model_log_jacobian(model_data.numeric, model_data.mask)
        return float(np.average(per_row, weights=model_data.sample_weight))

    def _model_log_jacobian(self, values, mask):
        if not self.transformed:
            return np.zeros(len(values))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(mask, 0.0, -np.log(self.derivative(values))).sum(axis=1)

    def outside(self, values):
        """True where a data-unit value lies outside its feature's bounds."""
        return (values < self.lower) | (values > self.upper)

    def clip(self, values):
        return np.clip(values, self.lower, self.upper)

    def model_data(self, data):
        """Engine data with the numeric features in model space.

        Raises
        ------
        ValueError
            Where an observed value is outside its transformation's domain.
        """
        if not self.transformed:
            return data
        self.check_domain(data.numeric, data.mask)
        return replace(data, numeric=self.to_model(data.numeric))


def complete_within(
    data,
    model_data,
    params,
    support,
    *,
    scaling,
    random_state=None,
    completion=None,
    **options,
):
    """:func:`~emimpute._em._impute.complete`, with bounds and transformations.

    Parameters
    ----------
    data : EMData
        In the data's units (observed entries are copied from it).
    model_data : EMData
        The same data in model space (``support.model_data(data)``).
    params, scaling
        The fitted model, of the model-space features.
    support : FeatureSupport
    random_state : numpy.random.RandomState or Generator, default=None
        Draw instead of taking the conditional mean; a row whose drawn
        missing part leaves the bounds is redrawn (all of its missing part,
        jointly) up to ``MAX_REDRAWS`` times, then clipped.
    completion : Completion, default=None
        ``model_data`` already completed under ``params`` (in its units, as
        ``complete`` returns it; a draw when ``random_state`` is given): the
        bounds and transformations are applied to it instead of a new
        completion.
    **options
        ``return_std``, ``return_proba`` (see ``complete``).

    Returns
    -------
    completion : Completion
        In the data's units. With a transformation, ``std`` is the delta
        method's ``|d x / d y| * s`` at the conditional mean (also when the
        values are drawn), ``s`` the conditional standard deviation in
        model space.
    """
    # Drawing, the std is the delta method's at the conditional mean: one
    # pass of conditional moments below gives both, so the draws need none.
    moments_apart = (
        random_state is not None
        and options.get("return_std", False)
        and not support.is_identity
    )
    if completion is None:
        completion = complete(
            model_data,
            params,
            scaling=scaling,
            random_state=random_state,
            **{**options, "return_std": False} if moments_apart else options,
        )
    if support.is_identity:
        return completion
    mask = data.mask
    numeric = support.to_data(completion.numeric)
    codes = completion.codes
    if random_state is not None:
        bad = np.flatnonzero((support.outside(numeric) & mask).any(axis=1))
        for _ in range(MAX_REDRAWS):
            if len(bad) == 0:
                break
            redrawn = complete(
                model_data.take(bad),
                params,
                scaling=scaling,
                random_state=random_state,
            )
            numeric[bad] = support.to_data(redrawn.numeric)
            codes[bad] = redrawn.codes
            still = (support.outside(numeric[bad]) & mask[bad]).any(axis=1)
            bad = bad[still]
    std = completion.std
    if moments_apart:
        # The delta method's slope at the conditional mean, never at a draw
        # (a draw's slope made the std random: 6.7 times the mean's on a
        # log feature); a draw's completion has no mean, so one more pass.
        moments = complete(model_data, params, scaling=scaling, return_std=True)
        centre, std = moments.numeric, moments.std
    else:
        centre = completion.numeric
    if std is not None:
        std = support.spread(centre, std)
        std[mask & ~np.isfinite(std)] = np.inf
        std[~mask] = 0.0
    numeric = np.where(mask, support.clip(numeric), data.numeric)
    return Completion(numeric, codes, std, completion.probabilities)
