from __future__ import annotations

from appliance.channels.sms.rules import Keyword, RateLimiter, keyword


def test_keywords_in_three_languages_only_as_the_whole_message() -> None:
    for text in ("STOP", "stop!", " Stop. ", "STOPP", "Lõpeta", "СТОП", "Отписаться"):
        assert keyword(text) is Keyword.STOP, text
    for text in ("START", "start", "Alusta", "СТАРТ"):
        assert keyword(text) is Keyword.START, text
    for text in ("stop the booking", "please start", "", "Tere"):
        assert keyword(text) is None, text


def test_rate_limit_per_minute_and_per_hour() -> None:
    rl = RateLimiter(per_minute=3, per_hour=5)
    assert [rl.allow("a", t) for t in (0, 1, 2, 3)] == [True, True, True, False]
    assert rl.allow("b", 3)  # per number
    assert rl.allow("a", 61) and rl.allow("a", 62)
    assert not rl.allow("a", 121)  # 5 in the hour
    assert rl.allow("a", 3601)  # the first ones left the window
    rl.prune(10_000)
    assert rl.allow("a", 10_000)
