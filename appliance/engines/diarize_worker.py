"""The diarization worker: runs pyannote-audio in the isolated environment (``.venv-diarize``).

Started by :mod:`appliance.engines.diarize` as ``<venv-diarize>/bin/python diarize_worker.py``
(by path: it imports nothing from the appliance, whose dependencies are not in that
environment). One JSON request on stdin, one JSON answer on stdout::

    {"audio": "/path/caller.wav", "pipeline": "", "segmentation": "...ckpt", "embedding": "...ckpt",
     "plda": "/dir", "clustering": "VBxClustering", "params": {...}, "num_speakers": 2,
     "max_speakers": 4, "threads": 1}
    -> {"ok": true, "turns": [{"start": 0.03, "end": 2.28, "speaker": "SPEAKER_00"}, ...],
        "duration_s": 12.9, "seconds": 2.6}
    -> {"ok": false, "error": "audio_unreadable" | "model_unavailable" | "failed", "detail": "..."}

The audio is read with the standard library and handed to the pipeline as an in-memory
``{"waveform", "sample_rate"}`` (pyannote's own file decoding needs torchcodec, which this
environment leaves out). Nothing here reaches a network: the hub is switched off and
pyannote's telemetry is disabled before it is imported.
"""

from __future__ import annotations

import json
import os
import sys
import time
import wave
from typing import Any

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["PYANNOTE_METRICS_ENABLED"] = "0"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


_OUT = sys.stdout
sys.stdout = sys.stderr  # libraries that print must not corrupt the one answer line


def _answer(data: dict[str, Any]) -> None:
    _OUT.write(json.dumps(data) + "\n")
    _OUT.flush()


def _read_wav(path: str) -> tuple[Any, int]:
    import numpy as np
    import torch

    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"want 16-bit PCM, got {8 * w.getsampwidth()}-bit")
        rate, channels = w.getframerate(), w.getnchannels()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    samples = pcm.reshape(-1, channels).T.astype(np.float32) / 32768.0
    return torch.from_numpy(samples.mean(axis=0, keepdims=True)), rate


def _local(folder: str, ref: Any, filename: str = "pytorch_model.bin") -> str | None:
    """A model reference of a pipeline's config.yaml, found in the local pipeline folder.

    ``{"checkpoint": ..., "subfolder": "segmentation"}`` (community-1) -> <folder>/segmentation;
    ``"pyannote/segmentation-3.0"`` (3.1) -> <folder>/segmentation-3.0 (models/manifest.toml's
    ``dir``; the WeSpeaker embedding lives in <folder>/wespeaker); a path -> itself."""
    if isinstance(ref, dict):
        names = [str(ref.get("subfolder") or "")]
    else:
        names = [str(ref), str(ref).rsplit("/", 1)[-1]] + (["wespeaker"] if "wespeaker" in str(ref) else [])
    for name in names:
        path = os.path.join(folder, name) if name and not os.path.isabs(name) else name
        if path and os.path.isfile(path):
            return path
        if path and os.path.isfile(os.path.join(path, filename)):
            return os.path.join(path, filename)
    return None


def _from_folder(req: dict[str, Any]) -> dict[str, Any]:
    """segmentation/embedding/plda/clustering/params of a production pipeline folder's config.yaml."""
    import yaml

    folder = req["pipeline"]
    with open(os.path.join(folder, "config.yaml"), encoding="utf-8") as fh:
        config = yaml.safe_load(fh)
    pp = (config.get("pipeline") or {}).get("params") or {}
    out = dict(req)
    for key in ("segmentation", "embedding"):
        found = _local(folder, pp.get(key, key))
        if found is None:
            raise FileNotFoundError(f"{key} model of {folder} (config.yaml: {pp.get(key)!r})")
        out[key] = found
    plda = _local(folder, pp.get("plda", "plda"), "plda.npz")  # community-1: <folder>/plda/plda.npz
    out["plda"] = os.path.dirname(plda) if plda else ""
    out["clustering"] = pp.get("clustering", "VBxClustering")
    out["segmentation_step"] = pp.get("segmentation_step", 0.1)
    out["params"] = config.get("params") or None
    return out


def _pipeline(req: dict[str, Any]) -> Any:
    from pyannote.audio import Model
    from pyannote.audio.core.plda import PLDA
    from pyannote.audio.pipelines import SpeakerDiarization

    if req.get("pipeline"):  # a production pipeline folder: config.yaml and its models, all local
        req = _from_folder(req)
    # Models are loaded here and passed as objects, never by path: pyannote picks an embedding
    # loader from words in a path string ("wespeaker" -> ONNX), which a local path must not trigger.
    if req.get("plda"):  # VBx clustering (community-1)
        plda = PLDA(os.path.join(req["plda"], "xvec_transform.npz"), os.path.join(req["plda"], "plda.npz"))
    else:  # 3.1's agglomerative clustering uses none, but pyannote 4's constructor would fetch
        plda = PLDA.__new__(PLDA)  # community-1's from the Hub: an unused placeholder instead
    pipe = SpeakerDiarization(
        segmentation=Model.from_pretrained(req["segmentation"]),
        embedding=Model.from_pretrained(req["embedding"]),
        clustering=req.get("clustering", "VBxClustering"),
        segmentation_step=float(req.get("segmentation_step", 0.1)),
        embedding_batch_size=32,
        segmentation_batch_size=32,
        plda=plda,
    )
    pipe.instantiate(req.get("params") or pipe.default_parameters())
    return pipe


def run(req: dict[str, Any]) -> dict[str, Any]:
    import warnings

    warnings.simplefilter("ignore")
    import torch

    torch.set_num_threads(int(req.get("threads", 1)))
    try:
        waveform, rate = _read_wav(req["audio"])
    except (OSError, ValueError, EOFError, wave.Error) as exc:
        return {"ok": False, "error": "audio_unreadable", "detail": str(exc)}
    try:
        pipe = _pipeline(req)
    except (OSError, KeyError, ValueError) as exc:
        return {"ok": False, "error": "model_unavailable", "detail": f"{type(exc).__name__}: {exc}"}
    kwargs: dict[str, Any] = {}
    if req.get("num_speakers"):
        kwargs["num_speakers"] = int(req["num_speakers"])
    elif req.get("max_speakers"):
        kwargs["max_speakers"] = int(req["max_speakers"])
    start = time.monotonic()
    out = pipe({"waveform": waveform, "sample_rate": rate}, **kwargs)
    annotation = getattr(out, "speaker_diarization", out)  # pyannote 4: DiarizeOutput; 3.x: Annotation
    turns = [
        {"start": round(float(seg.start), 3), "end": round(float(seg.end), 3), "speaker": str(label)}
        for seg, _track, label in annotation.itertracks(yield_label=True)
    ]
    return {
        "ok": True,
        "turns": turns,
        "duration_s": round(waveform.shape[-1] / rate, 3),
        "seconds": round(time.monotonic() - start, 3),
    }


def main() -> int:
    try:
        req = json.loads(sys.stdin.read())
    except ValueError as exc:
        _answer({"ok": False, "error": "bad_request", "detail": str(exc)})
        return 2
    try:
        result = run(req)
    except Exception as exc:  # noqa: BLE001 - every failure becomes an answer the daemon can store
        result = {"ok": False, "error": "failed", "detail": f"{type(exc).__name__}: {exc}"}
    _answer(result)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
