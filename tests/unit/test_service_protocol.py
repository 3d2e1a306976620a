"""The model services' wire format and batcher, with numbers (no model: the batch function is a
recording stand-in at the one seam, ``batch_fn``)."""

from __future__ import annotations

import asyncio
import struct

import pytest

from appliance.engines.langid import UNDECIDED, LangIdAction, LangIdReason, LanguageChoice
from appliance.engines.service.batch import Utterance
from appliance.engines.service.protocol import (
    HEAD,
    AudioReply,
    ErrorReply,
    ProtocolError,
    ServiceLoad,
    StatusRequest,
    SynthesizeRequest,
    TranscribeRequest,
    TranscriptReply,
    decode,
    encode,
)
from appliance.engines.service.server import Batcher, LoadStats
from appliance.engines.stt import Transcript
from appliance.engines.tts import AudioChunk

CHOICE = LanguageChoice("ru", "en", LangIdAction.CHECK, LangIdReason.UNCLEAR, "ru", 0.6, 0.3, 1.4, detect_ms=12.5)


def _roundtrip(msg: object) -> object:
    frame = encode(msg)  # type: ignore[arg-type]
    hlen, plen = HEAD.unpack(frame[: HEAD.size])
    assert len(frame) == HEAD.size + hlen + plen
    return decode(frame[HEAD.size : HEAD.size + hlen], frame[HEAD.size + hlen :])


@pytest.mark.parametrize(
    "msg",
    [
        TranscribeRequest(1, b"\x01\x00" * 800, 8000, session_language="en", params=UNDECIDED, budget_ms=1200.0),
        TranscribeRequest(2, b"", 16000, language="et"),
        TranscriptReply(3, Transcript("Tere", "et", 0.9, 1.25, CHOICE), 4, 7.5),
        TranscriptReply(4, Transcript("", None, None, 0.0), 1, 0.0),
        SynthesizeRequest(5, "Здравствуйте", "ru"),
        AudioReply(6, AudioChunk(b"\x00\x10" * 100, 22050), 1.0),
        StatusRequest(7),
        ServiceLoad(8, "stt", 42, True, ("en", "et"), 16000, requests=3, batch_sizes={"2": 1, "1": 1}),
        ErrorReply(9, "engine_failed", "ModelError: boom"),
    ],
)
def test_every_message_survives_the_wire(msg: object) -> None:
    assert _roundtrip(msg) == msg


def test_bad_frames_are_protocol_errors() -> None:
    with pytest.raises(ProtocolError):
        decode(b"not json", b"")
    with pytest.raises(ProtocolError):
        decode(b'{"kind": "nonsense", "id": 1}', b"")
    with pytest.raises(ProtocolError):
        decode(b'{"kind": "transcribe", "id": 1}', b"")  # no sample rate


def test_an_oversized_frame_is_refused_before_it_is_read() -> None:
    from appliance.engines.service.protocol import read_message

    async def run() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(struct.pack(">II", 2**30, 0))
        with pytest.raises(ProtocolError):
            await read_message(reader)

    asyncio.run(run())


def _utt(n: int) -> TranscribeRequest:
    return TranscribeRequest(n, bytes(2 * n), 16000, language="en")


def test_the_batcher_groups_requests_that_arrive_together_and_caps_the_batch() -> None:
    calls: list[list[int]] = []

    def batch_fn(items: list[Utterance]) -> list[Transcript | Exception]:
        calls.append([len(i.pcm16) // 2 for i in items])
        return [Transcript(f"t{len(i.pcm16) // 2}", "en", 1.0, 0.1) for i in items]

    async def run() -> list[object]:
        b = Batcher(batch_fn, max_batch=3, window_s=0.2)
        b.start()
        replies = await asyncio.gather(*(b.submit(_utt(n)) for n in range(1, 6)))
        report = b.stats.report(0, "stt", ("en",), 16000, b.queued)
        assert report.requests == 5 and report.batches == 2 and report.batch_sizes == {"2": 1, "3": 1}
        assert report.queue_length == 0 and report.failures == 0
        return list(replies)

    replies = asyncio.run(run())
    assert calls == [[1, 2, 3], [4, 5]]
    assert [r.transcript.text for r in replies] == ["t1", "t2", "t3", "t4", "t5"]  # type: ignore[attr-defined]
    assert [r.batch_size for r in replies] == [3, 3, 3, 2, 2]  # type: ignore[attr-defined]


def test_one_failed_item_fails_alone_and_a_failed_batch_fails_every_item() -> None:
    def batch_fn(items: list[Utterance]) -> list[Transcript | Exception]:
        if len(items) == 1:
            raise RuntimeError("the model crashed")
        return [ValueError("bad audio") if i.language == "et" else Transcript("ok", "en", 1.0, 0.1) for i in items]

    async def run() -> tuple[list[object], object, LoadStats]:
        b = Batcher(batch_fn, max_batch=8, window_s=0.2)
        b.start()
        two = await asyncio.gather(b.submit(_utt(1)), b.submit(TranscribeRequest(2, b"\0\0", 16000, language="et")))
        one = await b.submit(_utt(3))
        return list(two), one, b.stats

    two, one, stats = asyncio.run(run())
    assert isinstance(two[0], TranscriptReply) and isinstance(two[1], ErrorReply)
    assert isinstance(one, ErrorReply) and one.code == "engine_failed" and "crashed" in one.message
    assert stats.failures == 2


def test_load_percentiles_from_numbers() -> None:
    st = LoadStats()
    st.queue_ms.extend([1.0, 2.0, 3.0, 4.0, 100.0])
    report = st.report(1, "stt", (), 16000, 0)
    assert (report.queue_ms_p50, report.queue_ms_p95, report.queue_ms_max) == (3.0, 100.0, 100.0)


def test_a_request_whose_client_gave_up_while_queued_is_not_decoded() -> None:
    import time as _time

    decoded: list[int] = []

    def batch_fn(items: list[Utterance]) -> list[Transcript | Exception]:
        decoded.extend(len(i.pcm16) // 2 for i in items)
        _time.sleep(0.3)  # the model is busy: later requests queue
        return [Transcript("ok", "en", 1.0, 0.1) for _ in items]

    async def run() -> list[object]:
        b = Batcher(batch_fn, max_batch=8, window_s=0.0)
        b.start()
        first = asyncio.ensure_future(b.submit(_utt(1)))
        await asyncio.sleep(0.05)  # the first batch is running
        late = TranscribeRequest(2, bytes(4), 16000, language="en", budget_ms=100)  # its caller waits 0.1 s
        patient = TranscribeRequest(3, bytes(6), 16000, language="en", budget_ms=5000)
        replies = await asyncio.gather(first, b.submit(late), b.submit(patient))
        assert b.stats.shed == 1 and b.stats.report(0, "stt", (), 16000, 0).shed == 1
        return list(replies)

    first, late, patient = asyncio.run(run())
    assert isinstance(first, TranscriptReply) and isinstance(patient, TranscriptReply)
    assert isinstance(late, ErrorReply) and late.code == "engine_timeout"
    assert decoded == [1, 3]  # the abandoned one cost no model time


def test_a_service_answers_what_it_cannot_do_with_a_coded_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from appliance.engines.service.server import ModelServer

    async def run() -> None:
        stt = ModelServer("stt", Batcher(lambda items: [], window_s=0.0), tmp_path / "s", languages=("en",),
                          sample_rate=16000)  # fmt: skip
        wrong = await stt._reply(SynthesizeRequest(1, "hi", "en"))
        assert isinstance(wrong, ErrorReply) and wrong.code == "bad_request"
        bare = ModelServer("stt", None, tmp_path / "s", languages=("en",), sample_rate=16000)
        bare.error = "speech-to-text: model folder not found"
        load = await bare._reply(StatusRequest(2))
        assert isinstance(load, ServiceLoad) and not load.ready and "not found" in load.error
        none = await bare._reply(_utt(3))
        assert isinstance(none, ErrorReply) and none.code == "engine_unavailable"

    asyncio.run(run())
