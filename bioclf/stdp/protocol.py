"""The presentation protocol of Diehl & Cook (2015) and the model files of the network.

Neuron and synapse values live in ``equations/``; this holds what the experiment does with
them (how long a sample is shown, how fast pixels fire, when a sample is repeated), read from
the ``stdp`` section of ``config/config.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from brian2 import Hz, ms
from brian2.units.fundamentalunits import Quantity
from brian2.utils.stringtools import get_identifiers

from bioclf.encoding import ENCODINGS
from bioclf.equations import (
    NeuronModel,
    SynapseModel,
    check_synapse_partners,
    load_neuron,
    load_synapse,
)
from bioclf.errors import THE_CONFIGURATION, ConfigError, EquationFileError

#: Where a protocol's values come from, in its errors (`bioclf.config.validate` and
#: `bioclf.tasks.run` name the file).
CONFIG = THE_CONFIGURATION

#: Type of a neuron's spike count in one presentation (`simulate.ChunkResult.counts`, the
#: records and checkpoints of `run`): a neuron spikes at most once per time step, so a
#: presentation of up to its maximum (65,535) steps cannot overflow it (`Protocol` refuses longer).
COUNT_DTYPE = np.uint16

#: Variables the network code itself reads or writes on the excitatory neurons.
EXC_NEEDS = ("v", "theta", "ge", "gi")

#: The input neurons' own variables (`network.build`); a synapse file's ``pre_neuron``
#: equations and its ``model`` must not reuse their names.
INPUT_VARIABLES = """
p_fire : 1          # firing probability per step in this presentation
stream : 1          # random-number key of this presentation
log1mp : 1          # log(1 - p_fire), or -1 where p_fire = 0
next_step : integer # step of the slot at which the pixel fires next
n_fired : 1         # spikes in this chunk (for cost estimates)
sample : 1 (linked)
rep : 1 (linked)
intensity : 1 (linked)
n_avail : 1 (linked)
offset : 1 (linked)
base_key : 1 (linked)
"""


@dataclass(frozen=True)
class Protocol:
    """Timing and input statistics of one sample presentation.

    Parameters
    ----------
    dt : Quantity
        Simulation time step (0.5 ms in the original).
    present : Quantity
        Time a sample is shown (350 ms).
    rest : Quantity
        Input-free time after each presentation (150 ms).
    max_rate : Quantity
        Rate of a white pixel (255) at the base intensity (63.75 Hz).
    base_intensity : float
        Starting intensity (2); the rate of a pixel is ``x * max_rate / base_intensity *
        intensity`` for x in [0, 1].
    min_spikes : int
        A presentation with fewer excitatory spikes is repeated at intensity + 1 (5).
    max_intensity : float
        Cap: a presentation at this intensity is accepted whatever its spike count.
    reset_between_samples : bool
        In frozen runs (``plastic = 0``), start every presentation, repeats included, from the
        neurons' initial values (`network.RESET`) instead of the state the previous one left:
        each sample's response then depends on that sample alone, so a test set can be split
        into shards that give the responses of the whole run. Training is unaffected. Left out
        of the repr when off, so that runs without it keep their identity.
    encoding : {'rate', 'latency'}
        Input code. ``rate``: each pixel a Bernoulli process at the rate above. ``latency``: each
        pixel fires once per presentation, at step ``floor((1 - x') * (present_steps - 1))`` of
        the presentation (`bioclf.encoding.latency`), with ``x' = min(1, x * intensity /
        base_intensity)``: a repeat at higher intensity makes every lit pixel fire earlier (and
        more pixels fire at step 0), but no pixel more than once; ``max_rate`` is not used.
    """

    dt: Quantity = field(default_factory=lambda: 0.5 * ms)
    present: Quantity = field(default_factory=lambda: 350 * ms)
    rest: Quantity = field(default_factory=lambda: 150 * ms)
    max_rate: Quantity = field(default_factory=lambda: 63.75 * Hz)
    base_intensity: float = 2.0
    min_spikes: int = 5
    max_intensity: float = 32.0
    reset_between_samples: bool = field(default=False, repr=False)
    # Left out of the repr, which identifies a run to its checkpoints: rate-coded runs written
    # before the option existed stay resumable (the simulator adds a latency code's name).
    encoding: str = field(default="rate", repr=False)

    def __post_init__(self):
        for name, steps in (("present", self.present_steps), ("rest", self.rest_steps)):
            given = getattr(self, name)
            if abs(float(given / self.dt) - steps) > 1e-9:  # (rounded, it would run another)
                raise ConfigError(
                    CONFIG,
                    f"stdp.protocol.{name}",
                    f"{given} is not a whole number of time steps (dt {self.dt})",
                )
        if self.present_steps < 1:
            raise ConfigError(CONFIG, "stdp.protocol.present", "presentation time must be > 0")
        if self.rest_steps < 0:
            raise ConfigError(CONFIG, "stdp.protocol.rest", f"must not be negative: {self.rest}")
        if self.present_steps > np.iinfo(COUNT_DTYPE).max:
            raise ConfigError(
                CONFIG,
                "stdp.protocol.present",
                f"{self.present_steps} time steps (dt) is more than the "
                f"{np.iinfo(COUNT_DTYPE).max} that a spike count of one presentation can hold",
            )
        if self.encoding not in ENCODINGS:
            raise ConfigError(
                CONFIG,
                "stdp.protocol.encoding",
                f"must be one of {ENCODINGS}, got {self.encoding!r}",
            )
        if self.max_intensity < self.base_intensity:
            raise ConfigError(
                CONFIG, "stdp.protocol.max_intensity", "must be at least base_intensity"
            )
        if float(self.max_rate / self.base_intensity * self.max_intensity * self.dt) > 1:
            raise ConfigError(
                CONFIG,
                "stdp.protocol.max_intensity",
                "the rate at this intensity would exceed one spike per time step",
            )

    @property
    def present_steps(self) -> int:
        return int(round(float(self.present / self.dt)))

    @property
    def rest_steps(self) -> int:
        return int(round(float(self.rest / self.dt)))

    @property
    def slot_steps(self) -> int:
        return self.present_steps + self.rest_steps

    @property
    def slot(self) -> Quantity:
        return self.slot_steps * self.dt

    @property
    def rate_per_intensity(self) -> Quantity:
        return self.max_rate / self.base_intensity


@dataclass(frozen=True)
class Models:
    """The five model files of the Diehl & Cook network."""

    exc: NeuronModel
    inh: NeuronModel
    input_exc: SynapseModel
    exc_inh: SynapseModel
    inh_exc: SynapseModel

    @classmethod
    def load(cls, paths: dict[str, str | Path]) -> Models:
        """Load and cross-check the files named in the ``stdp.models`` configuration."""
        missing = [k for k in ("exc", "inh", "input_exc", "exc_inh", "inh_exc") if k not in paths]
        if missing:
            raise ConfigError(
                THE_CONFIGURATION, f"stdp.models.{missing[0]}", "model file not given"
            )
        models = cls(
            exc=load_neuron(paths["exc"]),
            inh=load_neuron(paths["inh"]),
            input_exc=load_synapse(paths["input_exc"]),
            exc_inh=load_synapse(paths["exc_inh"]),
            inh_exc=load_synapse(paths["inh_exc"]),
        )
        models.check()
        return models

    def check(self) -> None:
        """Refuse models that lack what the network relies on."""
        names = set(self.exc.eqs.names)
        for var in EXC_NEEDS:
            if var not in names:
                raise EquationFileError(
                    self.exc.file_of("equations"),  # (a variant's base may hold them)
                    "equations",
                    f"the STDP network needs a variable '{var}' on the excitatory neurons",
                )
        if self.input_exc.normalize is None:
            raise EquationFileError(
                self.input_exc.file_of("normalize"),
                "normalize",
                "the plastic input synapse must say which variable is normalised "
                "(normalize: {variable: w, total: ...})",
            )
        for model in (self.exc, self.inh, self.input_exc, self.exc_inh, self.inh_exc):
            _no_random_draws(model)
        input_model = input_neuron_model(self.input_exc)
        check_synapse_partners(self.input_exc, input_model, self.exc)
        check_synapse_partners(self.exc_inh, self.exc, self.inh)
        check_synapse_partners(self.inh_exc, self.inh, self.exc)

    @property
    def paths(self) -> list[Path]:
        return [m.path for m in (self.exc, self.inh, self.input_exc, self.exc_inh, self.inh_exc)]


#: Brian2's random functions and its white noise, drawn while a network runs
_RANDOM = {"rand": "rand()", "randn": "randn()", "poisson": "poisson()", "xi": "xi"}


def _no_random_draws(model: NeuronModel | SynapseModel) -> None:
    """Refuse random numbers drawn while the network runs (``rand()`` in ``on_pre``, noise
    ``xi`` in the equations): they would come from Brian2's generator, which is not the seed's
    (the input spikes and initial values are drawn from the seed, `bioclf.encoding.hashrng` and
    `bioclf.brian.groups`), so runs would not repeat, nor agree between backends."""
    for name, code in model.code_fields().items():
        ids = get_identifiers(code)
        drawn = [_RANDOM[x] for x in _RANDOM if x in ids] + sorted(
            x for x in ids if x.startswith("xi_")
        )
        if drawn:
            raise EquationFileError(
                model.file_of(name),
                name,
                f"draws {drawn[0]} while the network runs: the STDP network takes its random "
                "numbers from the seed (the input spikes; initial values and delays, drawn as "
                "it is built, may use rand()), and Brian2's generator would make runs that "
                "neither repeat nor agree between backends",
            )


def input_neuron_model(syn: SynapseModel) -> NeuronModel:
    """The Poisson input neurons as a neuron model (their own variables), to check the synapse
    against."""
    return NeuronModel(
        path=Path("(Poisson input)"),
        name="input",
        description="rate-coded pixels",
        equations=INPUT_VARIABLES,
        threshold="False",
        reset="",
        refractory=0 * ms,
        method="exact",
        parameters={},
    )
