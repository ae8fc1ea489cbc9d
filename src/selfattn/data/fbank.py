"""Log-mel filter banks and MFCCs in torch, computed exactly as Kaldi does.

For each 25 ms frame (``(frames, 400)`` at 16 kHz, see :mod:`selfattn.data.audio`):
remove the DC offset, pre-emphasise (``x[i] -= 0.97 x[i-1]``), multiply by the "povey"
window (a Hann window to the power 0.85), zero-pad to 512, take the power spectrum
``|FFT|^2`` (257 bins), weigh it with ``num_mel_bins`` triangular filters equally spaced
on the mel scale ``mel(f) = 1127 ln(1 + f / 700)`` between 20 Hz and 8 kHz, and take the
log (floored at float32 epsilon): ``(frames, num_mel_bins)``. The MFCC is the
orthonormal DCT-II of that, the first ``num_ceps`` coefficients, "liftered" by
``1 + (L/2) sin(pi k / L)``, with ``c0`` replaced by the log frame energy if
``use_energy``: ``(frames, num_ceps)``.

The defaults equal ``kaldi-native-fbank``'s with ``dither=0``; a test checks both
against it on real speech. Works batched on any device: the input may be ``(..., S)``.
"""

from __future__ import annotations

import math

import torch

from .audio import SAMPLE_RATE

__all__ = ["dct_matrix", "log_mel_fbank", "mel_filterbank", "mfcc"]

_EPS = torch.finfo(torch.float32).eps


def _mel(f: torch.Tensor) -> torch.Tensor:
    return 1127.0 * torch.log1p(f / 700.0)


def mel_filterbank(num_bins: int, fft_size: int = 512, rate: int = SAMPLE_RATE,
                   low_hz: float = 20.0, high_hz: float = 0.0) -> torch.Tensor:
    """``(num_bins, fft_size // 2 + 1)`` float64 triangular mel weights (Kaldi's MelBanks;
    ``high_hz <= 0`` means Nyquist plus ``high_hz``). The Nyquist column is always zero."""
    nyquist = rate / 2
    high = high_hz if high_hz > 0 else nyquist + high_hz
    if not 0 <= low_hz < high <= nyquist:
        raise ValueError(f"low_hz, high_hz: expected 0 <= low < high <= {nyquist} (Nyquist), "
                         f"got {low_hz}, {high}")
    mel_low, mel_high = _mel(torch.tensor(low_hz, dtype=torch.float64)), _mel(
        torch.tensor(high, dtype=torch.float64))
    delta = (mel_high - mel_low) / (num_bins + 1)
    left = mel_low + delta * torch.arange(num_bins, dtype=torch.float64)
    center, right = left + delta, left + 2 * delta
    bin_mel = _mel(torch.arange(fft_size // 2, dtype=torch.float64) * rate / fft_size)[None, :]
    up = (bin_mel - left[:, None]) / (center - left)[:, None]
    down = (right[:, None] - bin_mel) / (right - center)[:, None]
    inside = (bin_mel > left[:, None]) & (bin_mel < right[:, None])
    weights = torch.where(inside, torch.where(bin_mel <= center[:, None], up, down), 0.0)
    return torch.cat([weights, weights.new_zeros(num_bins, 1)], dim=1)


def _povey_window(length: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    i = torch.arange(length, dtype=torch.float64, device=device)
    return (0.5 - 0.5 * torch.cos(2 * math.pi * i / (length - 1))).pow(0.85).to(dtype)


def _power_spectrum(frames: torch.Tensor, preemphasis: float
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(..., F, W)`` frames -> ``(power (..., F, K), log_energy (..., F))``."""
    if frames.dim() < 2:
        raise ValueError(f"frames: expected (..., frames, window), got shape {tuple(frames.shape)}")
    x = frames.to(torch.float64)
    x = x - x.mean(dim=-1, keepdim=True)
    log_energy = torch.log(torch.clamp((x * x).sum(-1), min=_EPS))
    shifted = torch.cat([x[..., :1], x[..., :-1]], dim=-1)
    x = (x - preemphasis * shifted) * _povey_window(x.shape[-1], x.dtype, x.device)
    fft_size = 1 << (x.shape[-1] - 1).bit_length()
    spectrum = torch.fft.rfft(x, n=fft_size)
    return spectrum.real.square() + spectrum.imag.square(), log_energy


BLOCK_FRAMES = 3000  # 30 s: one recording's (F, W) frames go through float64 this many at a time


def log_mel_fbank(frames: torch.Tensor, num_mel_bins: int = 80, rate: int = SAMPLE_RATE,
                  low_hz: float = 20.0, high_hz: float = 0.0, preemphasis: float = 0.97
                  ) -> torch.Tensor:
    """``(..., F, W)`` frames -> ``(..., F, num_mel_bins)`` float32 log-mel energies.

    Every frame is computed on its own, so a long recording's ``(F, W)`` frames are taken
    ``BLOCK_FRAMES`` at a time: the float64 spectra (about 100 bytes per sample) then exist
    for one block only, and the peak is the float32 output plus one block."""
    if frames.dim() == 2 and frames.shape[0] > BLOCK_FRAMES:
        return torch.cat([log_mel_fbank(frames[i:i + BLOCK_FRAMES], num_mel_bins, rate, low_hz, high_hz,
                                        preemphasis) for i in range(0, frames.shape[0], BLOCK_FRAMES)])
    power, _ = _power_spectrum(frames, preemphasis)
    fft_size = 2 * (power.shape[-1] - 1)
    banks = mel_filterbank(num_mel_bins, fft_size, rate, low_hz, high_hz).to(power.device)
    return torch.log(torch.clamp(power @ banks.T, min=_EPS)).to(torch.float32)


def dct_matrix(num_ceps: int, num_bins: int) -> torch.Tensor:
    """``(num_ceps, num_bins)`` float64 rows of the orthonormal DCT-II (Kaldi's ComputeDctMatrix)."""
    if not 1 <= num_ceps <= num_bins:
        raise ValueError(f"num_ceps: expected 1..{num_bins} (num_mel_bins), got {num_ceps}")
    k = torch.arange(num_ceps, dtype=torch.float64)[:, None]
    n = torch.arange(num_bins, dtype=torch.float64)[None, :]
    matrix = math.sqrt(2.0 / num_bins) * torch.cos(math.pi / num_bins * (n + 0.5) * k)
    matrix[0] = math.sqrt(1.0 / num_bins)
    return matrix


def mfcc(frames: torch.Tensor, num_ceps: int = 13, num_mel_bins: int = 23,
         cepstral_lifter: float = 22.0, use_energy: bool = True, rate: int = SAMPLE_RATE,
         low_hz: float = 20.0, high_hz: float = 0.0, preemphasis: float = 0.97
         ) -> torch.Tensor:
    """``(..., F, W)`` frames -> ``(..., F, num_ceps)`` float32 MFCCs (Kaldi defaults)."""
    power, log_energy = _power_spectrum(frames, preemphasis)
    fft_size = 2 * (power.shape[-1] - 1)
    banks = mel_filterbank(num_mel_bins, fft_size, rate, low_hz, high_hz).to(power.device)
    log_mel = torch.log(torch.clamp(power @ banks.T, min=_EPS))
    ceps = log_mel @ dct_matrix(num_ceps, num_mel_bins).to(power.device).T
    if cepstral_lifter:
        k = torch.arange(num_ceps, dtype=torch.float64, device=power.device)
        ceps = ceps * (1.0 + 0.5 * cepstral_lifter * torch.sin(math.pi * k / cepstral_lifter))
    if use_energy:
        ceps[..., 0] = log_energy
    return ceps.to(torch.float32)
