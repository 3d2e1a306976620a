"""GSM-7 vs UCS-2 and segment counts, with the numbers of 3GPP TS 23.038/23.040."""

from __future__ import annotations

from appliance.channels.sms.encoding import Encoding, fit, is_gsm7, plan


def test_plain_english_is_gsm7_in_one_segment() -> None:
    p = plan("x" * 160)
    assert (p.encoding, p.segments, p.units) == (Encoding.GSM7, 1, 160)
    p = plan("x" * 161)
    assert (p.segments, [len(x) for x in p.parts]) == (2, [153, 8])


def test_escaped_characters_count_two_septets_and_are_not_split() -> None:
    assert plan("€" * 80).segments == 1  # 160 septets
    p = plan("a" + "€" * 80)  # 161 septets: 153 per part, a pair never split
    assert p.segments == 2
    assert p.parts[0] == "a" + "€" * 76  # 1 + 152 = 153
    assert "".join(p.parts) == "a" + "€" * 80


def test_estonian_and_russian_need_ucs2_unless_their_letters_are_in_gsm7() -> None:
    assert is_gsm7("Tere! Hästi, öö ja üks")  # ä ö ü are in the GSM alphabet
    assert not is_gsm7("Tõnu")  # õ is not
    assert not is_gsm7("Šokolaad")
    p = plan("Здравствуйте")
    assert p.encoding is Encoding.UCS2 and p.segments == 1
    p = plan("õ" * 71)
    assert (p.segments, [len(x) for x in p.parts]) == (2, [67, 4])


def test_characters_outside_the_bmp_take_two_units_and_stay_whole() -> None:
    p = plan("🐕" * 35)
    assert (p.encoding, p.units, p.segments) == (Encoding.UCS2, 70, 1)
    p = plan("a" + "🐕" * 35)
    assert p.segments == 2 and p.parts[0] == "a" + "🐕" * 33


def test_fit_shortens_at_a_word_boundary() -> None:
    text = " ".join(["sõna"] * 60)
    short = fit(text, 2)
    assert plan(short).segments <= 2 and short.endswith("…") and short.startswith("sõna sõna")
    assert fit("lühike", 1) == "lühike"
