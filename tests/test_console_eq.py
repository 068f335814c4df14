"""Console EQ against analytic truth: RBJ responses evaluated independently, cookbook identities, chunking."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reaper_automix.console.eq import apply_eq, biquad_sos, eq_response_db, eq_sos
from reaper_automix.console.iir import sosfilt
from reaper_automix.console.params import EqParams
from reaper_automix.strip import EQ_GAIN_DB, EQ_LAYOUT_DEFAULT, EQ_LAYOUT_DIFF_MST, EQ_Q, BandKind

SR = 44100


def rbj_magnitude_db(kind: str, f0: float, gain_db: float, q: float, freqs: np.ndarray, sr: float) -> np.ndarray:
    """Independent numpy evaluation of the cookbook formulas: |B(e^jw)| / |A(e^jw)| in dB."""
    A = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * f0 / sr
    alpha = np.sin(w0) / (2 * q)
    cw = np.cos(w0)
    if kind == "peak":
        b = [1 + alpha * A, -2 * cw, 1 - alpha * A]
        a = [1 + alpha / A, -2 * cw, 1 - alpha / A]
    elif kind == "low_shelf":
        sq = 2 * np.sqrt(A) * alpha
        b = [A * ((A + 1) - (A - 1) * cw + sq), 2 * A * ((A - 1) - (A + 1) * cw), A * ((A + 1) - (A - 1) * cw - sq)]
        a = [(A + 1) + (A - 1) * cw + sq, -2 * ((A - 1) + (A + 1) * cw), (A + 1) + (A - 1) * cw - sq]
    else:
        sq = 2 * np.sqrt(A) * alpha
        b = [A * ((A + 1) + (A - 1) * cw + sq), -2 * A * ((A - 1) + (A + 1) * cw), A * ((A + 1) + (A - 1) * cw - sq)]
        a = [(A + 1) - (A - 1) * cw + sq, 2 * ((A - 1) - (A + 1) * cw), (A + 1) - (A - 1) * cw - sq]
    z = np.exp(-1j * 2 * np.pi * freqs / sr)
    num = b[0] + b[1] * z + b[2] * z * z
    den = a[0] + a[1] * z + a[2] * z * z
    return 20 * np.log10(np.abs(num) / np.abs(den))


def random_eq(rng: np.random.Generator, batch: int, layout=EQ_LAYOUT_DEFAULT) -> EqParams:
    x = torch.tensor(rng.uniform(0, 1, size=(batch, len(layout), 3)))
    freq = torch.stack([band.freq_hz.to_physical(x[:, i, 0]) for i, band in enumerate(layout)], 1)
    return EqParams(freq, EQ_GAIN_DB.to_physical(x[..., 1]), EQ_Q.to_physical(x[..., 2]), layout)


@pytest.mark.parametrize("layout", [EQ_LAYOUT_DEFAULT, EQ_LAYOUT_DIFF_MST])
def test_filtered_impulse_matches_independent_rbj_response(layout):
    rng = np.random.default_rng(1)
    eq = random_eq(rng, batch=3, layout=layout)
    n = 2**17  # 3 s: every band's impulse response has decayed far below the tolerance
    impulse = torch.zeros(3, 1, n, dtype=torch.float64)
    impulse[:, :, 0] = 1.0
    y, _ = apply_eq(impulse, eq, SR)
    measured = 20 * np.log10(np.abs(np.fft.rfft(y[:, 0].numpy(), axis=-1)))
    freqs = np.fft.rfftfreq(n, 1 / SR)
    band = (freqs >= 20) & (freqs <= 20000)
    for s in range(3):
        expected = sum(
            rbj_magnitude_db(
                spec.kind.value,
                float(eq.freq_hz[s, i]),
                float(eq.gain_db[s, i]),
                float(eq.q[s, i]),
                freqs[band],
                SR,
            )
            for i, spec in enumerate(layout)
        )
        assert np.max(np.abs(measured[s, band] - expected)) < 0.1
        # The closed-form response used for reports agrees too.
        reported = eq_response_db(eq, torch.tensor(freqs[band][::97]), SR)[s].numpy()
        assert np.allclose(reported, expected[::97], atol=1e-6)


@pytest.mark.parametrize("gain_db", [-12.0, -3.0, 4.5, 12.0])
def test_cookbook_identities(gain_db):
    f0, q = 1000.0, 0.9
    args = (torch.tensor(f0, dtype=torch.float64), torch.tensor(gain_db, dtype=torch.float64),
            torch.tensor(q, dtype=torch.float64))
    for kind, probe_hz, expected in [
        (BandKind.PEAK, f0, gain_db),  # a peak reaches its gain exactly at f0
        (BandKind.PEAK, 1e-6, 0.0),  # and is flat far away
        (BandKind.LOW_SHELF, 1e-6, gain_db),  # shelves reach their gain at DC / Nyquist
        (BandKind.LOW_SHELF, f0, gain_db / 2),  # and are at half of it (in dB) at the corner
        (BandKind.HIGH_SHELF, SR / 2, gain_db),
        (BandKind.HIGH_SHELF, f0, gain_db / 2),
    ]:
        sos = biquad_sos(kind, *args, SR).numpy()
        z = np.exp(-1j * 2 * np.pi * probe_hz / SR)
        h = np.polyval(sos[2::-1], z) / np.polyval(sos[:2:-1], z)
        assert 20 * np.log10(abs(h)) == pytest.approx(expected, abs=1e-9)


def test_flat_eq_is_identity():
    x = torch.randn(2, 2, 5000)
    y, _ = apply_eq(x, EqParams.neutral(2), SR)
    assert torch.allclose(y, x, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(1, 3999), min_size=1, max_size=5, unique=True), seed=st.integers(0, 1000))
def test_chunked_equals_one_pass(cuts, seed):
    rng = np.random.default_rng(seed)
    eq = random_eq(rng, batch=2)
    x = torch.tensor(rng.standard_normal((2, 2, 4000)), dtype=torch.float32)
    with torch.no_grad():
        whole, _ = apply_eq(x, eq, SR)
        parts, state = [], None
        for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), 4000]):
            y, state = apply_eq(x[..., a:b], eq, SR, state)
            parts.append(y)
    assert torch.equal(torch.cat(parts, -1), whole)


def test_sosfilt_gradients_match_finite_differences():
    torch.manual_seed(0)
    x = torch.randn(2, 2, 50, dtype=torch.float64, requires_grad=True)
    params = torch.tensor([[300.0, 6.0, 0.7], [5000.0, -4.0, 2.0]], dtype=torch.float64, requires_grad=True)

    def run(x, p):
        sos = torch.stack(
            [
                torch.stack([biquad_sos(k, p[:, 0], p[:, 1], p[:, 2], SR) for k in BandKind], 1)[b]
                for b in range(2)
            ]
        )
        return sosfilt(x, sos)[0]

    assert torch.autograd.gradcheck(run, (x, params))


def test_gradients_need_a_pass_from_rest():
    x = torch.randn(1, 1, 10, requires_grad=True)
    eq = EqParams.neutral(1)
    _, state = apply_eq(x.detach(), eq, SR)
    with pytest.raises(ValueError, match="no_grad"):
        apply_eq(x, eq, SR, state)


def test_eq_response_of_full_layout_is_sum_of_bands():
    eq = random_eq(np.random.default_rng(3), batch=1)
    freqs = torch.tensor([50.0, 440.0, 3000.0, 12000.0], dtype=torch.float64)
    total = eq_response_db(eq, freqs, SR)[0].numpy()
    parts = sum(
        rbj_magnitude_db(spec.kind.value, float(eq.freq_hz[0, i]), float(eq.gain_db[0, i]), float(eq.q[0, i]),
                         freqs.numpy(), SR)
        for i, spec in enumerate(eq.layout)
    )
    assert np.allclose(total, parts, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("batch", [3, 19])
def test_compiled_cascade_is_scipy_sosfilt_to_the_bit(dtype, channels, batch):
    """The compiled recursion against scipy's sosfilt (the independent implementation), from a non-zero state:
    the same samples in the input's dtype and the same final state, bit for bit; 19 items fill more than one
    group of lanes (16 channels), the last one partly."""
    import scipy.signal

    rng = np.random.default_rng(11)
    eq = random_eq(rng, batch=batch)
    sos = eq_sos(eq, SR)
    x = rng.standard_normal((batch, channels, 20000)).astype(dtype)
    zi = torch.from_numpy(0.01 * rng.standard_normal((batch, sos.shape[1], channels, 2)))
    with torch.no_grad():
        y, zf = sosfilt(torch.from_numpy(x), sos, zi)
    assert y.dtype == torch.from_numpy(x).dtype
    for b in range(batch):
        expected, z = scipy.signal.sosfilt(sos[b].numpy(), x[b].astype(np.float64), axis=-1, zi=zi[b].numpy())
        assert np.array_equal(y[b].numpy(), expected.astype(dtype))
        assert np.array_equal(zf[b].numpy(), z)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_cascade_through_silence_ends_at_zero_state(dtype):
    """Noise, then 20 s of digital silence: the states end at exactly 0 (set there once below 1e-200, not left on
    subnormals) where scipy's are tiny but not 0, and the samples are scipy's: to the bit in float32 (the tail
    rounds to 0 either way), and within 1e-198 in float64 (1e-200 through the later sections' gain)."""
    import scipy.signal

    rng = np.random.default_rng(12)
    eq = random_eq(rng, batch=3)
    sos = eq_sos(eq, SR)
    x = np.zeros((3, 2, 21 * SR), dtype=dtype)
    x[..., :SR] = rng.standard_normal((3, 2, SR)) * 0.3
    with torch.no_grad():
        y, zf = sosfilt(torch.from_numpy(x), sos)
    assert torch.count_nonzero(zf) == 0
    for b in range(3):
        expected, z = scipy.signal.sosfilt(sos[b].numpy(), x[b].astype(np.float64), axis=-1,
                                           zi=np.zeros((sos.shape[1], 2, 2)))
        assert np.count_nonzero(z) > 0 and np.abs(z).max() < 1e-200
        if dtype == np.float32:
            assert np.array_equal(y[b].numpy(), expected.astype(dtype))
        else:
            assert np.array_equal(y[b, :, :SR].numpy(), expected[:, :SR])
            np.testing.assert_allclose(y[b].numpy(), expected, rtol=0, atol=1e-198)
