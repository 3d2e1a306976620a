"""Tiny random-weight pyannote models for the diarization plumbing tests (never content).

Run by ``scripts/make_test_models.py`` with the isolated environment's interpreter
(``.venv-diarize/bin/python``; pyannote is not in the main environment)::

    .venv-diarize/bin/python scripts/diarize_test_models.py OUT_DIR

Writes ``OUT_DIR/segmentation.ckpt`` (pyannote's ``PyanNet``, the architecture of
pyannote/segmentation-3.0, with a 16-unit LSTM and a powerset output of 3 speakers, 2 at a
time), ``OUT_DIR/embedding.ckpt`` (pyannote's ``XVectorMFCC`` x-vector, 32 dimensions) and
``OUT_DIR/plda/{xvec_transform,plda}.npz`` (a random PLDA for VBx clustering). The
checkpoints are written the way Lightning saves them (``state_dict``, ``hyper_parameters``
and pyannote's own ``pyannote.audio`` block from ``Model.on_save_checkpoint``), so
``Model.from_pretrained(path)`` loads them through pyannote's real code.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["PYANNOTE_METRICS_ENABLED"] = "0"
warnings.simplefilter("ignore")

SEED = 20240601
DIM = 32


def save(model, path: Path) -> None:  # type: ignore[no-untyped-def]
    import lightning
    import torch

    ck = {
        "state_dict": model.state_dict(),
        "hyper_parameters": dict(model.hparams),
        "pytorch-lightning_version": lightning.__version__,
    }
    model.on_save_checkpoint(ck)
    torch.save(ck, path)


def wire_two_speakers(seg) -> None:  # type: ignore[no-untyped-def]
    """Make the random segmentation say "speaker 1" or "speaker 2" frame by frame.

    Left fully random, the classifier's biggest bias wins every frame: one local speaker
    everywhere, and the pipeline finds one speaker however many it is asked for. Here the
    classifier reads one hidden feature of the (still random) network: above its mean on
    noise -> local speaker 1, below -> local speaker 2, near it -> silence; overlap classes
    never win. Which frames go where still depends on the audio, and means nothing.
    """
    import torch
    import torch.nn.functional as F

    seen: dict[str, torch.Tensor] = {}
    hook = seg.linear[-1].register_forward_hook(lambda _m, _i, o: seen.__setitem__("h", o))
    gen = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        seg(torch.randn(1, 1, 16000 * 5, generator=gen) * 0.1)
        hook.remove()
        h = F.leaky_relu(seen["h"][0])
        std = h.std(0)
        k = int(std.argmax())
        mu, scale = float(h[:, k].mean()), 4.0 / float(std[k])
        seg.classifier.weight.zero_()
        seg.classifier.bias.copy_(torch.tensor([1.0, -scale * mu, scale * mu, -9.0, -9.0, -9.0, -9.0]))
        seg.classifier.weight[1, k] = scale
        seg.classifier.weight[2, k] = -scale


def main(out: Path) -> int:
    import numpy as np
    import torch
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.embedding import XVectorMFCC
    from pyannote.audio.models.segmentation import PyanNet

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(SEED)
    seg = PyanNet(
        lstm={"hidden_size": 16, "num_layers": 1, "bidirectional": True, "monolithic": True, "dropout": 0.0},
        linear={"hidden_size": 16, "num_layers": 1},
    )
    seg.specifications = Specifications(
        problem=Problem.MONO_LABEL_CLASSIFICATION,
        resolution=Resolution.FRAME,
        duration=5.0,
        classes=["speaker#1", "speaker#2", "speaker#3"],
        powerset_max_classes=2,
        permutation_invariant=True,
    )
    seg.build()
    wire_two_speakers(seg)
    save(seg, out / "segmentation.ckpt")
    emb = XVectorMFCC(dimension=DIM)
    emb.specifications = Specifications(problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK, duration=3.0)
    save(emb, out / "embedding.ckpt")
    rng = np.random.default_rng(SEED)
    (out / "plda").mkdir(exist_ok=True)
    np.savez(
        out / "plda" / "xvec_transform.npz",
        mean1=rng.standard_normal(DIM), mean2=rng.standard_normal(DIM), lda=rng.standard_normal((DIM, DIM)),
    )  # fmt: skip
    np.savez(
        out / "plda" / "plda.npz",
        mu=rng.standard_normal(DIM), tr=rng.standard_normal((DIM, DIM)), psi=np.abs(rng.standard_normal(DIM)) + 0.1,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
