"""Rate encoding: one implementation, identical bits in numpy, PyTorch and Brian2."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from brian2 import Network, NeuronGroup, ms

from bioclf.brian import backends
from bioclf.brian.functions import NAMESPACE
from bioclf.encoding import (
    bernoulli_spikes,
    bernoulli_spikes_torch,
    hashrng,
    skip_spikes,
    spike_probability,
    stream_keys,
)


def test_hash_numpy_and_torch_agree_bitwise():
    x = np.arange(0, 2**32, 7919, dtype=np.uint64)[:200_000]
    tx = torch.tensor(x.astype(np.int64))
    assert np.array_equal(hashrng.mix32(x), hashrng.mix32_torch(tx).numpy().astype(np.uint64))
    y = x[::-1].copy()
    assert np.array_equal(
        hashrng.hash2(x, y),
        hashrng.hash2_torch(tx, torch.tensor(y.astype(np.int64))).numpy().astype(np.uint64),
    )


def test_stream_keys_and_uniforms_are_the_documented_hash_chain():
    """lowbias32 and the key chain written out in plain Python integers: a stream's key is
    hash2(hash2(key(seed, split tag, epoch), sample), repeat), key folding the parts into
    mix32(seed ^ SEED_SALT). All implementations share `key` (Python), so the parity tests
    cannot see a change there, which would redraw the spikes behind every result."""
    m = 0xFFFFFFFF

    def mix(x):
        x &= m
        x ^= x >> 16
        x = x * 0x7FEB352D & m
        x ^= x >> 15
        x = x * 0x846CA68B & m
        return x ^ (x >> 16)

    def h2(a, b):
        return mix((a & m) ^ mix(b))

    base = h2(h2(mix(7 ^ 0x9E3779B9), 1), 2)  # seed 7, split "train" (tag 1), epoch 2
    assert hashrng.key(7, 1, 2) == base
    expected = [h2(h2(base, sample), 1) for sample in (3, 4)]  # repeat 1
    assert stream_keys(7, "train", [3, 4], epoch=2, repeat=1).tolist() == expected
    u = hashrng.uniform(expected[0], np.arange(3))
    assert u.tolist() == [mix(expected[0] ^ i) * 2.0**-32 for i in range(3)]


def test_spike_trains_identical_numpy_torch():
    rng = np.random.default_rng(0)
    images = rng.random((8, 784)).astype(np.float32)
    p = spike_probability(images, 1000.0, 1e-3)
    keys = stream_keys(3, "train", np.arange(8))
    a = bernoulli_spikes(p, keys, 25)
    b = bernoulli_spikes_torch(torch.tensor(p), torch.tensor(keys.astype(np.int64)), 25).numpy()
    assert a.shape == (25, 8, 784)
    assert np.array_equal(a, b.astype(bool))


@pytest.mark.parametrize("rate_hz,dt_s", [(63.75, 5e-4), (1000.0, 1e-3), (200.0, 1e-3)])
def test_mean_rates_match_intended(rate_hz, dt_s):
    """Over many steps, each intensity fires at intensity * max_rate (binomial tolerance)."""
    levels = np.linspace(0, 1, 11)
    images = np.repeat(levels[None, :], 64, axis=0).reshape(64, 11)
    p = spike_probability(images, rate_hz, dt_s)
    n_steps = 2000
    spikes = bernoulli_spikes(p, stream_keys(1, "test", np.arange(64)), n_steps)
    measured = spikes.mean(axis=(0, 1)) / dt_s
    intended = levels * rate_hz
    n = n_steps * 64
    sd = np.sqrt(np.clip(p[0] * (1 - p[0]), 1e-12, None) / n) / dt_s
    assert np.all(np.abs(measured - intended) <= 5 * sd + 1e-9)
    ts = bernoulli_spikes_torch(
        torch.tensor(p, dtype=torch.float32),
        torch.tensor(stream_keys(1, "test", np.arange(64)).astype(np.int64)),
        n_steps,
    )
    assert np.array_equal(ts.numpy().astype(bool), spikes)


def test_skip_spikes_are_the_same_bernoulli_process():
    """Geometric waits give P(spike) = p in every step, independently, like one draw per step."""
    p = np.repeat([0.0, 0.004, 0.03, 0.2, 0.7, 1.0], 400)
    keys = stream_keys(5, "train", np.arange(60))
    trains = np.stack([skip_spikes(p, int(k), 50) for k in keys])  # (60, 50, n)
    assert not trains[:, :, p == 0].any() and trains[:, :, p == 1].all()
    for value in (0.004, 0.03, 0.2, 0.7):
        x = trains[:, :, p == value]  # (60 keys, 50 steps, 400 pixels)
        n = x[:, 0].size
        tol = 4 * np.sqrt(value * (1 - value) / n)
        # The rate is p in the first step, in the last, and in every step on average.
        for frac in (x[:, 0].mean(), x[:, -1].mean(), x.mean()):
            assert abs(frac - value) < tol, (value, frac)
        # Successive steps are independent: P(spike at s+1 | spike at s) = p.
        both, first = (x[:, 1:] & x[:, :-1]).sum(), x[:, :-1].sum()
        assert abs(both / first - value) < 4 * np.sqrt(value * (1 - value) / first) + 1e-3
    # Same distribution as the per-step draws of `bernoulli_spikes` (different numbers).
    b = bernoulli_spikes(np.tile(p, (60, 1)), keys, 50)  # (50, 60, n)
    s = trains.transpose(1, 0, 2)
    assert not np.array_equal(s, b)
    for value in (0.03, 0.2):
        assert abs(s[:, :, p == value].mean() - b[:, :, p == value].mean()) < 0.01
    # Deterministic in the key.
    np.testing.assert_array_equal(skip_spikes(p, int(keys[0]), 50), trains[0])


def test_streams_are_independent():
    """Every field of a stream's key (seed, split, epoch, sample, repeat) gives other spikes:
    a key that ignored the epoch showed each epoch the same spikes, and no test saw it. Label
    assignment shows training images: its split's streams must not replay training's either."""
    p = np.full((1, 784), 0.5)
    a = bernoulli_spikes(p, stream_keys(0, "train", [0]), 200)
    others = {
        "sample": stream_keys(0, "train", [1]),
        "split": stream_keys(0, "test", [0]),
        "assign split": stream_keys(0, "assign", [0]),
        "seed": stream_keys(1, "train", [0]),
        "epoch": stream_keys(0, "train", [0], epoch=1),
        "repeat": stream_keys(0, "train", [0], repeat=1),
    }
    for field, keys in others.items():
        agreement = np.mean(a == bernoulli_spikes(p, keys, 200))
        assert 0.47 < agreement < 0.53, field  # independent fair coins agree half the time


def test_probability_above_one_refused():
    with pytest.raises(ValueError, match="max_rate"):
        spike_probability(np.ones(3), 2000.0, 1e-3)


def _brian_uniforms(backend):
    directory = backends.activate(backend, "hash_parity", dt=0.5 * ms)
    g = NeuronGroup(784, "u : 1\nkey : 1 (shared)", namespace=dict(NAMESPACE), name="hashes")
    g.key = 123456789.0
    g.run_regularly("u = bioclf_uniform(bioclf_hash(key, 17), i)", when="start", name="draw")
    backends.Runner(backend, Network(g), 0.5 * ms, directory).run()
    return np.asarray(g.u[:])


def test_brian2_runtime_function_matches_numpy():
    expected = hashrng.uniform(hashrng.hash2(123456789, 17), np.arange(784))
    assert np.array_equal(_brian_uniforms(backends.Backend("runtime")), expected)


@pytest.mark.standalone
def test_brian2_cpp_function_matches_numpy(build_root):
    expected = hashrng.uniform(hashrng.hash2(123456789, 17), np.arange(784))
    got = _brian_uniforms(backends.Backend("cpp", build_dir=build_root))
    assert np.array_equal(got, expected)
