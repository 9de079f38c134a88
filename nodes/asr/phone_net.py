"""The ears' phone network: log-mel frames in, CTC phone log-probabilities out, in numpy.

    net = PhoneNet()                         # the network the wheel ships (``DEFAULT``)
    lp = net.logprobs(log_mel(audio))        # (frames / 2, 40): blank, then ctc_decode.PHONES

A 1-d convolutional network (an input convolution with stride 2, so 20 ms frames, then six
residual blocks of dilated convolutions, 256 channels, about 2 M weights) trained with CTC
on espeak-ng speech of the scenario language, in four accents and 55 voice variants,
never the benchmarks' held-out voices nor the stand-ins' (``bench/phonenet_train.py``;
docs/ears.md, twenty-fourth round). Its output, decoded against the grammar by
``ctc_decode``, is what ``acoustic_model: phonenet`` hears. The network is defined, in
torch, by that program's ``network()``; this module is its forward pass in eval mode, with
BatchNorm folded into the convolutions. Weights are int8 with a float32 scale per output
channel in an ``.npz`` (float weights are read too).

Each output frame sees ``CONTEXT`` output frames either side (560 ms): a frame is final
once that much audio follows it (``stable``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .wordcheck import conv1d

DEFAULT = Path(__file__).with_name("models") / "phonenet.npz"
#: output frames on either side that an output frame depends on: the input convolution's
#: one, and 2 * dilation for each block's kernel of 5
CONTEXT = 29


class PhoneNet:
    """A phone network's weights (an ``.npz`` written by ``bench/phonenet_train.py``)."""

    def __init__(self, path: str | Path = DEFAULT) -> None:
        try:
            z = np.load(path)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: not a phone network ({exc})") from None
        if not isinstance(z, np.lib.npyio.NpzFile):  # one array (.npy), not an archive
            raise ValueError(f"{path}: not a phone network (one array, not an .npz archive)")
        try:
            self.mu = z["mu"].astype(np.float32)
            self.sd = z["sd"].astype(np.float32)
            self.phones = [str(p) for p in z["phones"]]
            self.inp = (_weight(z, "inp_w"), z["inp_b"].astype(np.float32))
            self.blocks: list[tuple[np.ndarray, np.ndarray, int]] = []
            while f"b{len(self.blocks)}_w" in z:
                i = len(self.blocks)
                self.blocks.append((_weight(z, f"b{i}_w"),
                                    z[f"b{i}_b"].astype(np.float32), int(z[f"b{i}_d"])))
            self.out = (_weight(z, "out_w")[:, :, 0], z["out_b"].astype(np.float32))
            self.meta = json.loads(str(z["meta"])) if "meta" in z else {}
        except KeyError as exc:
            raise ValueError(f"{path}: not a phone network ({exc.args[0]})") from None
        finally:
            z.close()
        self.context = 1 + sum(2 * d for _, _, d in self.blocks)

    def logprobs(self, feats: np.ndarray, first: int = 0) -> np.ndarray:
        """(T, 40) log mel (``wordcheck.log_mel``) -> log-probabilities of output frames
        ``first`` .. ``ceil(T / 2) - 1``, (frames, 40): only the input those frames
        depend on is computed."""
        s = max(0, 2 * (first - self.context - 1))
        x = ((feats[s:] - self.mu) / self.sd).T.astype(np.float32)
        if not x.shape[1]:
            return np.zeros((0, len(self.phones) + 1), np.float32)
        h = np.maximum(conv1d(x[None], *self.inp, stride=2), 0.0)
        for w, b, d in self.blocks:
            h = h + np.maximum(conv1d(h, w, b, dilation=d), 0.0)
        y = (self.out[0] @ h[0] + self.out[1][:, None])[:, first - s // 2:]
        y = y - y.max(0)
        return (y - np.log(np.exp(y).sum(0))).T


def _weight(z: Any, key: str) -> np.ndarray:
    """A weight array: float, or int8 with a scale per output channel (``key_scale``)."""
    w = z[key].astype(np.float32)
    if f"{key}_scale" in z:
        w *= z[f"{key}_scale"].reshape((-1,) + (1,) * (w.ndim - 1))
    return w
