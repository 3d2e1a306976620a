"""Word tables for English, Estonian and Russian, built once at import.

Every word maps to a :class:`Lex` entry: what it means to the date grammar
(a month, a weekday, a number, a cue such as "from" or "kuni"...). Estonian
case forms are generated from genitive stems plus case endings, Russian forms
are listed. Lookups are plain dict hits on lowercased words with "ё" folded to
"е", so tokens are classified in O(1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType

# Token kinds (plain strings: cheap to compare, readable in debug output).
NUM = "num"  # a day number or count; val = int
ART = "art"  # "a"/"an": a count of 1 for durations only
MONTH = "month"  # val = 1..12
WD = "wd"  # weekday, val = 0 (Monday)..6
REL = "rel"  # today/tomorrow/...; val = day offset
MOD = "mod"  # val = "next" | "this"
WEEKEND = "weekend"
UNIT = "unit"  # val = days per unit (1 night/day, 7 week, 14 fortnight)
CUE_S = "cue_s"  # "from", "alates", "с"
CUE_E = "cue_e"  # "until", "kuni", "до"
CONN = "conn"  # joins two dates into a range: "to", "-", "kuni", "по"
NEG = "neg"  # "not", "mitte", "не"
IN = "in"  # "in 3 days", "через неделю"
AFTER = "after"  # Estonian postposition: "kolme päeva pärast"
DUR = "dur"  # "for", "на": marks a duration
DAYWORD = "dayword"  # "10 числа", "10. kuupäeval"
FILL = "fill"  # skippable: "the", "of", "on"
THE = "the"  # English article (needed for "the 10th" / "the tenth")
OTHER = "other"

START = "start"
END = "end"


@dataclass(frozen=True, slots=True)
class Lex:
    kind: str
    val: int | str | None = None
    role: str | None = None  # START/END carried by the word itself (Estonian -st / -ni)
    strength: int = 0  # numbers: 2 = surely an ordinal day ("10th", "десятого"), 1 = maybe ("10.")
    tens: bool = False  # "twenty", "kakskümmend": may combine with a following unit word
    implied: int = 0  # units: a count implied by the form ("nädalaks" = for one week)


def _add(table: dict[str, Lex], words: str | list[str], lex: Lex) -> None:
    for w in words.split() if isinstance(words, str) else words:
        table.setdefault(w, lex)


# --- Estonian case endings ------------------------------------------------------------
# genitive stem + ending; -st/-lt = from (start), -ni = until (end).
_ET_ENDINGS = ("", "l", "ks", "s", "sse", "le", "lt", "st", "ni", "ga", "na", "ta", "t")


def _et_role(ending: str) -> str | None:
    if ending in ("st", "lt"):
        return START
    if ending == "ni":
        return END
    return None


def _et_forms(table: dict[str, Lex], nominatives: list[str], stem: str, kind: str, val: int | str | None) -> None:
    for nom in nominatives:
        _add(table, nom, Lex(kind, val))
    for e in _ET_ENDINGS:
        _add(table, stem + e, Lex(kind, val, _et_role(e)))


# --- numbers -------------------------------------------------------------------------

_EN_CARD = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"
).split()
_EN_ORD = (
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
    "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth"
).split()

# Estonian: (nominative, genitive stem) for 1..10, and ordinal (nominative, genitive stem).
_ET_CARD = [
    ("üks", "ühe"), ("kaks", "kahe"), ("kolm", "kolme"), ("neli", "nelja"), ("viis", "viie"),
    ("kuus", "kuue"), ("seitse", "seitsme"), ("kaheksa", "kaheksa"), ("üheksa", "üheksa"), ("kümme", "kümne"),
]  # fmt: skip
_ET_PARTITIVE = {1: "üht ühte", 2: "kaht kahte", 4: "nelja", 5: "viit viite", 6: "kuut kuute", 7: "seitset",
                 8: "kaheksat", 9: "üheksat", 10: "kümmet"}  # fmt: skip
_ET_ORD = [
    ("esimene", "esimese"), ("teine", "teise"), ("kolmas", "kolmanda"), ("neljas", "neljanda"),
    ("viies", "viienda"), ("kuues", "kuuenda"), ("seitsmes", "seitsmenda"), ("kaheksas", "kaheksanda"),
    ("üheksas", "üheksanda"), ("kümnes", "kümnenda"),
]  # fmt: skip

_RU_CARD = {
    1: "один одна одно одну одного одной одним одном",
    2: "два две двух двум двумя",
    3: "три трех трем тремя",
    4: "четыре четырех четырем четырьмя",
    5: "пять пяти пятью",
    6: "шесть шести шестью",
    7: "семь семи семью",
    8: "восемь восьми восемью",
    9: "девять девяти девятью",
    10: "десять десяти десятью",
    11: "одиннадцать одиннадцати",
    12: "двенадцать двенадцати",
    13: "тринадцать тринадцати",
    14: "четырнадцать четырнадцати",
    15: "пятнадцать пятнадцати",
    16: "шестнадцать шестнадцати",
    17: "семнадцать семнадцати",
    18: "восемнадцать восемнадцати",
    19: "девятнадцать девятнадцати",
    20: "двадцать двадцати",
    30: "тридцать тридцати",
}
_RU_ORD_STEMS = {
    1: "перв", 2: "втор", 4: "четверт", 5: "пят", 6: "шест", 7: "седьм", 8: "восьм", 9: "девят",
    10: "десят", 11: "одиннадцат", 12: "двенадцат", 13: "тринадцат", 14: "четырнадцат", 15: "пятнадцат",
    16: "шестнадцат", 17: "семнадцат", 18: "восемнадцат", 19: "девятнадцат", 20: "двадцат", 30: "тридцат",
}  # fmt: skip
_RU_ORD_ENDINGS = ("ое", "ого", "ому", "ым", "ом", "ый", "ой", "ая", "ую")
_RU_THIRD = "третье третьего третьему третьим третьем третий третья третью"

# Single digits spoken one by one (phone and booking numbers).
DIGIT_WORDS: MappingProxyType[str, str] = MappingProxyType(
    {
        **dict(zip("zero oh one two three four five six seven eight nine".split(), "00123456789", strict=True)),
        **dict(zip("null üks kaks kolm neli viis kuus seitse kaheksa üheksa".split(), "0123456789", strict=True)),
        **dict(zip("ноль один два три четыре пять шесть семь восемь девять".split(), "0123456789", strict=True)),
        "ноля": "0",
        "нуль": "0",
    }
)


def _numbers_en(t: dict[str, Lex]) -> None:
    for i, w in enumerate(_EN_CARD, 1):
        _add(t, w, Lex(NUM, i))
    for i, w in enumerate(_EN_ORD, 1):  # "second" is also a unit of time: a day only after "the"/before a month
        _add(t, w, Lex(NUM, i, strength=1))
    _add(t, "twenty", Lex(NUM, 20, tens=True))
    _add(t, "thirty", Lex(NUM, 30, tens=True))
    _add(t, "twentieth", Lex(NUM, 20, strength=1))
    _add(t, "thirtieth", Lex(NUM, 30, strength=1))
    for tens, name in ((20, "twenty"), (30, "thirty")):
        for i in range(1, 10):
            _add(t, f"{name}-{_EN_CARD[i - 1]}", Lex(NUM, tens + i))
            _add(t, f"{name}-{_EN_ORD[i - 1]}", Lex(NUM, tens + i, strength=1))
    _add(t, "couple pair", Lex(NUM, 2))
    _add(t, "a an", Lex(ART, 1))


def _numbers_et(t: dict[str, Lex]) -> None:
    def card(nom: str, gen: str, val: int, tens: bool = False) -> None:
        _et_forms(t, [nom], gen, NUM, val)
        if tens:
            for e in _ET_ENDINGS:
                t[gen + e] = Lex(NUM, val, tens=True)
            t[nom] = Lex(NUM, val, tens=True)

    for i, (nom, gen) in enumerate(_ET_CARD, 1):
        card(nom, gen, i)
        _add(t, _ET_PARTITIVE.get(i, ""), Lex(NUM, i))
        if i < 10:  # 11..19: üksteist / üheteistkümne-
            card(nom + "teist", gen + "teistkümne", 10 + i)
    card("kakskümmend", "kahekümne", 20, tens=True)
    card("kolmkümmend", "kolmekümne", 30, tens=True)
    _add(t, "paar paari paariks", Lex(NUM, 2))
    for i, (nom, gen) in enumerate(_ET_ORD, 1):
        # "kümnendal" (on the tenth) is surely a day; "teine"/"teisel" also mean "other".
        _add(t, nom, Lex(NUM, i, strength=1))
        for e in _ET_ENDINGS:
            _add(t, gen + e, Lex(NUM, i, _et_role(e), strength=2 if i > 3 and e == "l" else 1))
        if i < 10:
            stem = _ET_CARD[i - 1][1] + "teistkümnenda"
            _add(t, _ET_CARD[i - 1][1] + "teistkümnes", Lex(NUM, 10 + i, strength=1))
            for e in _ET_ENDINGS:
                _add(t, stem + e, Lex(NUM, 10 + i, _et_role(e), strength=2 if e == "l" else 1))
    for val, stem in ((20, "kahekümne"), (30, "kolmekümne")):
        _add(t, stem + "s", Lex(NUM, val, strength=1))
        for e in _ET_ENDINGS:
            _add(t, stem + "nda" + e, Lex(NUM, val, _et_role(e), strength=2 if e == "l" else 1))


def _numbers_ru(t: dict[str, Lex]) -> None:
    for val, forms in _RU_CARD.items():
        _add(t, forms, Lex(NUM, val, tens=val in (20, 30)))
    for val, stem in _RU_ORD_STEMS.items():
        for e in _RU_ORD_ENDINGS:
            _add(t, stem + e, Lex(NUM, val, strength=2 if e == "ого" else 1))
    _add(t, _RU_THIRD, Lex(NUM, 3, strength=1))
    t["третьего"] = Lex(NUM, 3, strength=2)
    _add(t, "пару пара пары", Lex(NUM, 2))


# --- months, weekdays -----------------------------------------------------------------

_EN_MONTHS = "january february march april may june july august september october november december".split()
_EN_MONTH_ABBR = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9,
                  "oct": 10, "nov": 11, "dec": 12}  # fmt: skip
_ET_MONTHS = [
    ("jaanuar", "jaanuari"), ("veebruar", "veebruari"), ("märts", "märtsi"), ("aprill", "aprilli"), ("mai", "mai"),
    ("juuni", "juuni"), ("juuli", "juuli"), ("august", "augusti"), ("september", "septembri"),
    ("oktoober", "oktoobri"), ("november", "novembri"), ("detsember", "detsembri"),
]  # fmt: skip
_ET_MONTH_ABBR = {"veebr": 2, "apr": 4, "aug": 8, "sept": 9, "okt": 10, "nov": 11, "dets": 12}
_RU_MONTHS = [
    "январь января январе январю январем", "февраль февраля феврале февралю февралем",
    "март марта марте марту мартом", "апрель апреля апреле апрелю апрелем", "май мая мае маю маем",
    "июнь июня июне июню июнем", "июль июля июле июлю июлем", "август августа августе августу августом",
    "сентябрь сентября сентябре сентябрю сентябрем", "октябрь октября октябре октябрю октябрем",
    "ноябрь ноября ноябре ноябрю ноябрем", "декабрь декабря декабре декабрю декабрем",
]  # fmt: skip

_EN_WD = "monday tuesday wednesday thursday friday saturday sunday".split()
_ET_WD = [("esmaspäev", "esmaspäeva"), ("teisipäev", "teisipäeva"), ("kolmapäev", "kolmapäeva"),
          ("neljapäev", "neljapäeva"), ("reede", "reede"), ("laupäev", "laupäeva"), ("pühapäev", "pühapäeva")]  # fmt: skip
_RU_WD = [
    "понедельник понедельника понедельнику понедельником", "вторник вторника вторнику вторником",
    "среда среду среды среде средой", "четверг четверга четвергу четвергом",
    "пятница пятницу пятницы пятнице пятницей", "суббота субботу субботы субботе субботой",
    "воскресенье воскресенья воскресенью воскресеньем",
]  # fmt: skip


def _build_en() -> dict[str, Lex]:
    t: dict[str, Lex] = {}
    _numbers_en(t)
    for i, m in enumerate(_EN_MONTHS, 1):
        _add(t, m, Lex(MONTH, i))
    for w, i in _EN_MONTH_ABBR.items():
        _add(t, w, Lex(MONTH, i))
    for i, w in enumerate(_EN_WD):
        _add(t, [w, w + "s"], Lex(WD, i))
    _add(t, "today tonight", Lex(REL, 0))
    _add(t, "tomorrow tmrw tomorow", Lex(REL, 1))
    _add(t, "next following", Lex(MOD, "next"))
    _add(t, "this coming", Lex(MOD, "this"))
    _add(t, "weekend weekends", Lex(WEEKEND))
    _add(t, "week weeks", Lex(UNIT, 7))
    _add(t, "fortnight fortnights", Lex(UNIT, 14))
    _add(t, "night nights day days", Lex(UNIT, 1))
    _add(t, "overnight", Lex(UNIT, 1, implied=1))
    _add(t, "from starting arriving arrive arrival since bring bringing between", Lex(CUE_S))
    _add(t, "until till til through thru collect collecting", Lex(CUE_E))
    _add(t, "to", Lex(CONN))
    _add(t, "and", Lex(CONN, "and"))
    _add(t, "not", Lex(NEG))
    _add(t, "in", Lex(IN))
    _add(t, "for", Lex(DUR))
    _add(t, "the", Lex(THE))
    _add(t, "of on at", Lex(FILL))
    return t


def _build_et() -> dict[str, Lex]:
    t: dict[str, Lex] = {}
    _numbers_et(t)
    for i, (nom, gen) in enumerate(_ET_MONTHS, 1):
        _et_forms(t, [nom], gen, MONTH, i)
    for w, i in _ET_MONTH_ABBR.items():
        _add(t, w, Lex(MONTH, i))
    for i, (nom, gen) in enumerate(_ET_WD):
        _et_forms(t, [nom], gen, WD, i)
    _add(t, "täna tänane tänasel", Lex(REL, 0))
    _add(t, "tänasest", Lex(REL, 0, START))
    _add(t, "tänaseni", Lex(REL, 0, END))
    _add(t, "homme homne homsel homseks homme", Lex(REL, 1))
    _add(t, "homsest", Lex(REL, 1, START))
    _add(t, "homseni", Lex(REL, 1, END))
    _add(t, "ülehomme ülehomne ülehomsel ülehomseks", Lex(REL, 2))
    _add(t, "ülehomsest", Lex(REL, 2, START))
    _add(t, "ülehomseni", Lex(REL, 2, END))
    for stem in ("järgmise", "tuleva"):
        _et_forms(t, [], stem, MOD, "next")
    _add(t, "järgmine tulev", Lex(MOD, "next"))
    _add(t, "see sel selle sellel selleks käesolev käesoleval käesolevaks", Lex(MOD, "this"))
    _et_forms(t, ["nädalavahetus"], "nädalavahetuse", WEEKEND, None)
    _add(t, "nädalavahetused nädalavahetusi", Lex(WEEKEND))
    _et_forms(t, ["nädal", "nädalad", "nädalaid"], "nädala", UNIT, 7)
    t["nädalaks"] = Lex(UNIT, 7, implied=1)
    _add(t, "öö ööd öid ööde", Lex(UNIT, 1))
    _add(t, "ööks ööseks", Lex(UNIT, 1, implied=1))
    _et_forms(t, ["päev", "päevad", "päevi"], "päeva", UNIT, 1)
    _et_forms(t, ["ööpäev", "ööpäevad"], "ööpäeva", UNIT, 1)
    t["päevaks"] = Lex(UNIT, 1, implied=1)
    t["ööpäevaks"] = Lex(UNIT, 1, implied=1)
    _add(t, "alates tuua toon tooksin tooma", Lex(CUE_S))
    _add(t, "järele järgi", Lex(CUE_E))
    _add(t, "kuni", Lex(CONN, role=END))
    _add(t, "mitte", Lex(NEG))
    _add(t, "pärast", Lex(AFTER))
    _add(t, "kuupäev kuupäeval kuupäevast kuupäevani kuupäeva", Lex(DAYWORD))
    _add(t, "ajaks", Lex(DUR))
    return t


def _build_ru() -> dict[str, Lex]:
    t: dict[str, Lex] = {}
    _numbers_ru(t)
    for i, forms in enumerate(_RU_MONTHS, 1):
        _add(t, forms, Lex(MONTH, i))
    for i, forms in enumerate(_RU_WD):
        _add(t, forms, Lex(WD, i))
    _add(t, "сегодня сегодняшнего", Lex(REL, 0))
    _add(t, "завтра завтрашнего", Lex(REL, 1))
    _add(t, "послезавтра", Lex(REL, 2))
    _add(t, "следующий следующая следующее следующую следующей следующего следующие следующих следующем "
            "следующим", Lex(MOD, "next"))  # fmt: skip
    _add(t, "этот эта эту этой этих эти этом ближайший ближайшую ближайшей ближайшие ближайших", Lex(MOD, "this"))
    _add(t, "выходные выходных выходным выходными уикенд уикэнд", Lex(WEEKEND))
    _add(t, "неделя недели недель неделе неделей недель", Lex(UNIT, 7))
    t["неделю"] = Lex(UNIT, 7, implied=1)
    _add(t, "ночи ночей ночевки ночевок", Lex(UNIT, 1))
    _add(t, "ночь ночевку", Lex(UNIT, 1, implied=1))
    _add(t, "дня дней дни суток", Lex(UNIT, 1))
    _add(t, "день сутки", Lex(UNIT, 1, implied=1))
    _add(t, "с со начиная привезу привезти привезем заезд заехать", Lex(CUE_S))
    _add(t, "забрать заберу заберем выезд", Lex(CUE_E))
    _add(t, "до по", Lex(CONN, role=END))
    _add(t, "не", Lex(NEG))
    _add(t, "через", Lex(IN))
    _add(t, "на", Lex(DUR))
    _add(t, "числа", Lex(DAYWORD))
    _add(t, "в во", Lex(FILL))
    return t


LEXICONS: MappingProxyType[str, dict[str, Lex]] = MappingProxyType(
    {"en": _build_en(), "et": _build_et(), "ru": _build_ru()}
)

# Multi-word phrases, matched on the token stream before single words.
PHRASES: MappingProxyType[tuple[str, ...], Lex] = MappingProxyType(
    {
        ("day", "after", "tomorrow"): Lex(REL, 2),
        ("the", "day", "after", "tomorrow"): Lex(REL, 2),
        ("check", "in"): Lex(CUE_S),
        ("checking", "in"): Lex(CUE_S),
        ("drop", "off"): Lex(CUE_S),
        ("dropping", "off"): Lex(CUE_S),
        ("drop", "him", "off"): Lex(CUE_S),
        ("drop", "her", "off"): Lex(CUE_S),
        ("pick", "up"): Lex(CUE_E),
        ("picking", "up"): Lex(CUE_E),
        ("pick", "him", "up"): Lex(CUE_E),
        ("pick", "her", "up"): Lex(CUE_E),
        ("check", "out"): Lex(CUE_E),
        ("checking", "out"): Lex(CUE_E),
        ("järele", "tulla"): Lex(CUE_E),
        ("after", "tomorrow"): Lex(REL, 2),
    }
)
MAX_PHRASE = max(len(p) for p in PHRASES)

# --- pet types -----------------------------------------------------------------------

PET_WORDS: MappingProxyType[str, str] = MappingProxyType(
    {
        **{w: "dog" for w in "dog dogs puppy puppies pup pups doggy doggie".split()},
        **{w: "cat" for w in "cat cats kitten kittens kitty".split()},
        **{
            w: "dog"
            for w in (
                "koer koera koerale koeraga koerad koerte koeri koeral koerast koeraks koerad koertele koertega "
                "kutsikas kutsika kutsikad kutsikat kutsikale kutsikaga kutsu kutsut"
            ).split()
        },
        **{
            w: "cat"
            for w in (
                "kass kassi kassile kassiga kassid kasse kasside kassil kassist kassiks kassidele kassidega "
                "kiisu kiisut kiisule kiisuga kiisud kassipoeg kassipoja kassipojad"
            ).split()
        },
        **{
            w: "dog"
            for w in (
                "собака собаки собаку собакой собаке собак собаками собакам собачка собачку собачки собачкой "
                "пес пса псу псом псе псы щенок щенка щенку щенком щенки щенков песик песика"
            ).split()
        },
        **{
            w: "cat"
            for w in (
                "кошка кошки кошку кошкой кошке кошек кошками кот кота коту котом коте коты котов котенок "
                "котенка котенку котенком котята котят кошечка кошечку котик котика"
            ).split()
        },
    }
)

# --- words that are never names ------------------------------------------------------

_STOP = (
    # English function words, fillers and common verbs that follow "I'm" / "for" / "called"
    "i me my mine you your he him his she her it its we our they their this that these those there here a an "
    "the and or but so if then than as at by for from in into of on onto to up with without about over is am "
    "are was were be been being do does did done have has had will would can could should shall may might must "
    "not no yes ok okay please thanks thank hi hello hey bye goodbye what when where who why how which "
    "calling looking wondering interested trying going just also sorry well um uh er hmm oh ah actually "
    "booking book room stay reservation night nights day days week weeks weekend fine good great here "
    "sure yeah yep nope nah correct right wrong name called named call want like need would love "
    "today tomorrow tonight next last morning evening afternoon new old one two three some any all "
    "dog cat pet pets puppy kitten staff person human operator someone anyone help now later again "
    "mr mrs ms miss dr sir madam "
    # Estonian
    "ma mina sa sina ta tema me meie te teie nad nemad see too mis kes kus kui ja ning või aga et on ei ole "
    "pole jah jaa jep õige sobib kinnita tere tervist aitäh tänan nägemist palun ka veel siin seal nüüd "
    "mu minu su sinu tal temal mul minul olen oled oli nimi nimega soovin tahan tahaksin broneerida "
    "broneering tuba koer kass lemmik lemmiklooma loom homme täna ülehomme hästi väga head hea "
    "helistan küsida vabandust tegelikult okei olgu muidugi selge "
    # Russian
    "я ты он она оно мы вы они мой моя мое мои его ее их это этот эта то тот как что кто где когда "
    "и а но или да нет не ни на в во с со к по за из у о об для до от при про же ли бы вот так "
    "привет здравствуйте спасибо пожалуйста зовут кличка меня имя хочу хотел хотела хотим нужно надо "
    "можно забронировать бронь номер собака кошка кот пес сегодня завтра послезавтра конечно ага "
    "верно хорошо ладно звоню звонила звонил интересует вопрос извините простите вообще"
).split()

GREETINGS_ETC = (
    "hi hello hey thanks bye tere tervist aitäh tänan nägemist head aega здравствуйте здравствуй привет "
    "спасибо добрый день пока свидания"
).split()


def _never_names() -> frozenset[str]:
    words: set[str] = set(_STOP) | set(GREETINGS_ETC) | set(PET_WORDS)
    for table in LEXICONS.values():
        for w, lex in table.items():
            if lex.kind not in (OTHER,):
                words.add(w)
    return frozenset(words)


NEVER_NAMES: frozenset[str] = _never_names()

# Word characters, allowing inner hyphens/apostrophes ("Mary-Ann", "O'Brien").
WORD_RE = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
