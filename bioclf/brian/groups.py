"""Brian2 groups built from model files.

Initial values, connectivity and delays are evaluated here in numpy from a seeded generator and
handed to Brian2 as arrays, so that every backend starts from bit-identical states (a
``rand()`` executed inside a standalone program would draw from a different generator). The
one exception, for memory (the N x N inhibition): synapses without delays or initial values
whose condition Brian2 computes exactly as numpy does (`_exact_condition`, e.g. ``i != j``) are
created by Brian2 from that condition, the same synapses in the same order.
"""

from __future__ import annotations

import ast

import numpy as np
from brian2 import Equations, NeuronGroup, Synapses
from brian2.core.functions import DEFAULT_FUNCTIONS
from brian2.core.namespace import DEFAULT_UNITS
from brian2.parsing.rendering import NumpyNodeRenderer
from brian2.units.fundamentalunits import Quantity, fail_for_dimension_mismatch, get_dimensions

from bioclf.brian.functions import NAMESPACE as HASH_FUNCTIONS
from bioclf.equations.spec import EXTERNALS, NeuronExtension, NeuronModel, SynapseModel
from bioclf.errors import EquationFileError

# Every function a model file may use (Brian2's DEFAULT_FUNCTIONS: the validation accepts them
# all) in Brian2's own numpy form, the common ones as numpy's; the random ones draw from the
# generator (`evaluate_array`).
_NUMPY_FUNCS = {
    name: function.pyfunc
    for name, function in DEFAULT_FUNCTIONS.items()
    if name not in ("rand", "randn", "poisson")
}
_NUMPY_FUNCS.update(
    {
        name: getattr(np, name)
        for name in ("exp", "log", "sqrt", "sin", "cos", "tanh", "abs", "floor", "ceil", "clip")
    }
)
_NUMPY_FUNCS.update(logical_not=np.logical_not, int=lambda x: np.asarray(x).astype(int))


def evaluate_array(expr: str, n: int, namespace: dict, rng: np.random.Generator, extra=None):
    """Evaluate a Brian2 expression for ``n`` elements in numpy.

    ``rand()``/``randn()`` draw from `rng`; ``i`` is the element index. Returns a Quantity or a
    numpy array of length ``n``.
    """
    code = NumpyNodeRenderer().render_expr(expr)
    ns = dict(DEFAULT_UNITS)
    ns.update(_NUMPY_FUNCS)
    ns.update(namespace)
    ns.update(
        rand=lambda: rng.random(n),
        randn=lambda: rng.standard_normal(n),
        poisson=lambda lam: rng.poisson(np.asarray(lam, dtype=float), n).astype(float),
        N=n,
        inf=np.inf,
        pi=np.pi,
        e=np.e,
    )
    extra = extra or {}
    if "i" not in extra:  # (not made when given: N^2 of them for all-to-all synapses)
        ns["i"] = np.arange(n)
    ns.update(extra)
    value = eval(code, {"__builtins__": {}}, ns)  # code rendered from a validated expression
    if np.ndim(value) == 0:
        value = value * np.ones(n)
    return value


def merge_namespaces(*models) -> dict:
    """Union of the models' parameters; the same name with two values is an error."""
    merged: dict[str, Quantity] = {}
    origin: dict[str, str] = {}
    for model in models:
        for name, value in model.parameters.items():
            if name in merged and not np.all(np.asarray(merged[name]) == np.asarray(value)):
                raise EquationFileError(
                    model.path,
                    f"parameters.{name}",
                    f"{value!r} conflicts with {merged[name]!r} in {origin[name]}; models that "
                    "act on the same neurons must agree on shared parameter names",
                )
            merged[name] = value
            origin[name] = str(model.path)
    return merged


def _externals_code(codes: list[str], declared: str = "") -> str:
    """Declarations of the network-provided names (``plastic``) a group's code uses."""
    from brian2.utils.stringtools import get_identifiers

    used = set()
    for code in codes:
        used |= get_identifiers(code)
    have = Equations(declared).names if declared.strip() else set()
    lines = [
        f"{name} : 1 (shared, constant)" for name in EXTERNALS if name in used and name not in have
    ]
    return "\n".join(lines)


def neuron_group(
    model: NeuronModel,
    n: int,
    name: str,
    rng: np.random.Generator,
    extensions: list[tuple[SynapseModel, NeuronExtension]] = (),
    extra_equations: str = "",
    initial: dict | None = None,
    dt=None,
    extra_reset: str = "",
) -> NeuronGroup:
    """A `NeuronGroup` of ``n`` neurons of `model`.

    Parameters
    ----------
    extensions : list of (SynapseModel, NeuronExtension)
        Trace equations and spike code that synapse models put on these neurons.
    extra_equations : str
        Further variables the network needs (counters, bookkeeping).
    extra_reset : str
        Further statements run at each spike (bookkeeping, e.g. counting spikes).
    initial : dict, optional
        Initial values (arrays) to use instead of evaluating the model's ``initial`` block.
    """
    eq_text = [model.equations] + [ext.equations for _, ext in extensions] + [extra_equations]
    reset = "\n".join(
        [model.reset] + [ext.on_spike for _, ext in extensions if ext.on_spike] + [extra_reset]
    ).strip()
    externals = _externals_code(eq_text + [model.threshold, reset], extra_equations)
    eqs = Equations("\n".join(t for t in eq_text + [externals] if t.strip()))
    namespace = merge_namespaces(model, *[syn for syn, _ in extensions])
    namespace.update(HASH_FUNCTIONS)
    refractory = model.refractory
    group = NeuronGroup(
        n,
        eqs,
        threshold=model.threshold,
        reset=reset,
        refractory=refractory,
        method=model.method,
        namespace=namespace,
        name=name,
        dt=dt,
    )
    if initial is None:
        initial = initial_values(model, n, namespace, rng)
    for var, value in initial.items():
        fail_for_dimension_mismatch(value, get_dimensions(getattr(group, var)))
        setattr(group, var, value)
    if "plastic" in eqs.names:
        group.plastic = 1
    return group


def initial_values(model, n: int, namespace: dict, rng: np.random.Generator) -> dict:
    """Arrays of the initial values a model file's ``initial`` block asks for."""
    return {var: evaluate_array(expr, n, namespace, rng) for var, expr in model.initial.items()}


def connect_indices(syn: SynapseModel, n_pre: int, n_post: int) -> tuple[np.ndarray, np.ndarray]:
    """Presynaptic and postsynaptic indices (int32, as Brian2 keeps them) of the synapses
    `syn.connect` asks for, ordered by presynaptic then postsynaptic index."""
    # int32: the all-but-self inhibition of N=6400 has 41 million synapses (int64 indices of
    # all N^2 pairs, kept ones and the condition's operands took 3.4 GB there).
    i = np.repeat(np.arange(n_pre, dtype=np.int32), n_post)
    j = np.tile(np.arange(n_post, dtype=np.int32), n_pre)
    if syn.connect is True:
        return i, j
    if syn.connect is False:
        return i[:0], j[:0]
    names = {**_int64_indices(i, j), "N_pre": n_pre, "N_post": n_post}
    keep = evaluate_array(syn.connect, len(i), syn.namespace(), np.random.default_rng(0), names)
    keep = np.asarray(keep, dtype=bool)
    return i[keep], j[keep]


def _int64_indices(i: np.ndarray, j: np.ndarray) -> dict[str, np.ndarray]:
    """``i`` and ``j`` for an expression evaluated in numpy: int64 copies of the (int32) index
    arrays, since numpy wraps int32 arithmetic around at 2**31 without a word, where Python and
    Brian2's runtime backend do not (``i * 10**12``)."""
    return {"i": np.asarray(i, dtype=np.int64), "j": np.asarray(j, dtype=np.int64)}


def synapse_indices(i: np.ndarray, j: np.ndarray, n_pre: int, n_post: int) -> dict:
    """Brian2's per-synapse names for synapses from `i` to `j` (index arrays): ``i`` and ``j``
    the presynaptic and postsynaptic neuron, ``N`` the number of synapses, ``N_pre``/``N_post``
    the group sizes, ``N_incoming``/``N_outgoing`` the synapses onto ``j``/from ``i``."""
    i, j = np.asarray(i), np.asarray(j)
    return {
        **_int64_indices(i, j),
        "N": len(i),
        "N_pre": n_pre,
        "N_post": n_post,
        "N_incoming": np.bincount(j, minlength=n_post)[j],
        "N_outgoing": np.bincount(i, minlength=n_pre)[i],
    }


def synapse_initial_values(
    syn: SynapseModel,
    indices: tuple[np.ndarray, np.ndarray],
    sizes: tuple[int, int],
    rng: np.random.Generator,
) -> dict:
    """Delays and initial values of the synapses from ``indices[0]`` to ``indices[1]``
    (between groups of `sizes` neurons), drawn in numpy from `rng`; ``i``, ``j`` and the other
    names of `synapse_indices` mean there what they mean in Brian2."""
    n_syn = len(indices[0])
    values = {}
    if not _drawn_in_numpy(syn):  # (the N^2 names cost memory at N=6400)
        return values
    special = synapse_indices(*indices, *sizes)
    if syn.delay is not None and n_syn:
        values["delay"] = evaluate_array(syn.delay, n_syn, syn.namespace(), rng, special)
        if np.min(values["delay"]) < 0:  # Brian2 would run with it
            raise EquationFileError(
                syn.origins.get("delay", syn.path),
                "delay",
                f"'{syn.delay}' gives negative delays (down to "
                f"{np.min(values['delay']) * 1e3:.3g} ms)",
            )
    for var, expr in syn.initial.items():
        values[var] = evaluate_array(expr, n_syn, syn.namespace(), rng, special)
    return values


def synapses(
    syn: SynapseModel,
    source,
    target,
    name: str,
    rng: np.random.Generator,
    on_pre: str | None = None,
    on_post: str | None = None,
    extra_model: str = "",
    initial: dict | None = None,
    indices: tuple[np.ndarray, np.ndarray] | None = None,
) -> Synapses:
    """A `Synapses` object of model `syn` from `source` to `target`.

    `on_pre`/`on_post` replace the file's code (used to wrap it with bookkeeping). `initial`
    gives arrays for the initial values (``delay`` included) instead of evaluating the file's.
    `indices` gives the presynaptic and postsynaptic index of each synapse, in the order they
    are to be created, instead of `connect_indices`.
    """
    on_pre = syn.on_pre if on_pre is None else on_pre
    on_post = syn.on_post if on_post is None else on_post
    model_text = "\n".join(t for t in (syn.model, extra_model) if t.strip())
    # A name the postsynaptic group already has (plastic) resolves to it, as Brian2 requires.
    declared = "\n".join(
        t for t in [extra_model] + [f"{n} : 1" for n in EXTERNALS if n in target.variables] if t
    )
    externals = _externals_code([model_text, on_pre, on_post], declared)
    model = Equations("\n".join(t for t in (model_text, externals) if t.strip()))
    namespace = syn.namespace()
    namespace.update(HASH_FUNCTIONS)
    S = Synapses(
        source,
        target,
        model=model,
        on_pre=on_pre,
        on_post=on_post or None,
        namespace=namespace,
        name=name,
    )
    if indices is None and initial is None and _brian2_connects(syn):
        # Made by Brian2, in the generated program on cpp and cuda, the same synapses in the
        # same order (`_brian2_connects`). As arrays, the all-but-self inhibition of N=6400
        # (41 million synapses) cost 1.9 GB of Brian2's copies and 330 MB of files in the project.
        S.connect(condition=syn.connect)
        return _plastic(S, model)
    i, j = connect_indices(syn, len(source), len(target)) if indices is None else indices
    if len(i):
        S.connect(i=i, j=j)
    else:  # a condition that keeps no pair (Brian2 refuses empty index arrays)
        S.connect(condition="False")
    if initial is None:
        initial = synapse_initial_values(syn, (i, j), (len(source), len(target)), rng)
    for var, value in initial.items():
        setattr(S, var, value)
    return _plastic(S, model)


def _plastic(S: Synapses, model: Equations) -> Synapses:
    if "plastic" in model.names:
        S.plastic = 1
    return S


def _brian2_connects(syn: SynapseModel) -> bool:
    """Whether Brian2 can create `syn`'s synapses with what `connect_indices` and
    `synapse_initial_values` would give, on every backend: no delays or initial values to draw
    in numpy for them, and a condition that Brian2 evaluates exactly as numpy does
    (`_exact_condition`)."""
    if _drawn_in_numpy(syn):
        return False
    return syn.connect is True or _exact_condition(syn.connect)


def _drawn_in_numpy(syn: SynapseModel) -> bool:
    """Whether `syn` has delays or initial values, which are drawn in numpy (module docstring)."""
    return syn.delay is not None or bool(syn.initial)


#: Names a condition that Brian2 evaluates may use: what they mean is the same in numpy's.
_EXACT_NAMES = {"i", "j", "N_pre", "N_post"}
_EXACT_NODES = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.Compare,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.BinOp, ast.Add, ast.Sub, ast.Mod,
    ast.FloorDiv, ast.Name, ast.Load, ast.Constant,
)  # fmt: skip


def _exact_condition(condition: str) -> bool:
    """Whether `condition` is one that Brian2 computes exactly as `connect_indices` does: made
    of the indices and group sizes (`_EXACT_NAMES`), small integers, ``+``, ``-``, ``%`` and
    ``//`` by a positive one of them, comparisons and ``and``/``or``/``not``. Others are not:
    Brian2 rewrites floating-point expressions (``i / 10.0`` becomes ``0.1 * i``), computes in
    int32 on cpp and cuda (``i * 10**12`` wraps around there, not on runtime), draws its own
    random numbers, and ``N`` and the neurons' variables mean other things there."""
    try:
        tree = ast.parse(condition.strip(), mode="eval")
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if not isinstance(node, _EXACT_NODES):
            return False
        if isinstance(node, ast.Name) and node.id not in _EXACT_NAMES:
            return False
        if isinstance(node, ast.Constant) and not (
            type(node.value) is int and abs(node.value) < 2**20
        ):
            return False
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.FloorDiv)):
            right = node.right
            value = right.value if isinstance(right, ast.Constant) else None
            positive = type(value) is int and value > 0
            if not (positive or isinstance(right, ast.Name) and right.id in {"N_pre", "N_post"}):
                return False
    return True
