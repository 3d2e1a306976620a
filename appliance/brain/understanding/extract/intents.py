"""Intents (keyword evidence), yes/no answers and correction cues, for all three languages at once.

The keyword sets barely overlap between English, Estonian and Russian, so all rules run on every
turn; that is what makes mixed-language input work. Patterns run on normalised (lowercase) text.
"""

from __future__ import annotations

import re

from appliance.core.messages import Intent

_W = r"(?<![^\W_])"  # start of a word (works for Cyrillic and Estonian letters too)
_E = r"(?![^\W_])"  # end of a word


def _rx(words: str) -> re.Pattern[str]:
    return re.compile(_W + r"(?:" + words + r")" + _E)


# Booking nouns count for BOOK only when no cancel/change/check evidence is present.
_NOUNS = _rx(
    r"booking|bookings|reservation|reservations|room|stay|place|spot|broneering\w*|tuba|toa|tuppa|kohta|koht|"
    r"majutus\w*|бронь|брони|броню|бронирование|бронированию|номер|номера|место|передержк\w*"
)
_RULES: list[tuple[Intent, int, re.Pattern[str]]] = [
    (
        Intent.CANCEL_BOOKING,
        3,
        _rx(r"cancel\w*|call\s+off|tühista\w*|tühistamine|отмен\w*|аннулир\w*"),
    ),
    (
        Intent.CHANGE_BOOKING,
        3,
        _rx(
            r"change|changing|move|moving|reschedule\w*|modify|postpone|extend|shift|"
            r"muuta|muuda|muudaks|muudan|muutmine|muutmiseks|nihuta\w*|edasi\s+lükata|pikenda\w*|"
            r"изменить|измени\w*|перенести|перенес\w*|перенос|поменя\w*|помен\w*|продли\w*"
        ),
    ),
    (
        Intent.CHECK_BOOKING,
        3,
        _rx(
            r"check\s+(?:on\s+)?(?:my|the|a|our)\s+(?:booking|reservation)|look\s+up|status\s+of|"
            r"(?:do|did)\s+i\s+have\s+a\s+(?:booking|reservation)|is\s+my\s+(?:booking|reservation)|"
            r"kontrolli\w*|kas\s+mul\s+on\s+broneering|kas\s+minu\s+broneering|"
            r"провер\w*|у\s+меня\s+есть\s+брон\w*|есть\s+ли\s+у\s+меня\s+брон\w*|какая\s+у\s+меня\s+бронь"
        ),
    ),
    (Intent.CHECK_BOOKING, 1, _rx(r"my\s+(?:booking|reservation)|minu\s+broneering\w*|мо[яюей]+\s+брон\w*")),
    (
        Intent.BOOK,
        2,
        _rx(
            r"book|booked|reserve|make\s+a\s+(?:booking|reservation)|drop\s+(?:him|her|it|them)?\s*off|"
            r"board|boarding|stay\s+with\s+you|need\s+a\s+room|"
            r"broneeri(?!ng)\w*|reserveeri(?!ng)\w*|tuua|tooksin|toon|jätta|jätaksin|majutada|majutust|"
            r"забронир\w*|бронировать|заброниров\w*|оставить|оставлю|оставим|записать|передержк\w*"
        ),
    ),
    # A request phrased as a question: "could my cat stay with you", "kas mu kass saaks teie juures
    # olla", "может ли моя кошка пожить у вас", "do you have a free room from ...".
    (
        Intent.BOOK,
        2,
        _rx(
            r"(?:could|can|may)\s+(?:my|our|we|i)\s+(?:\w+\s+){0,2}(?:stay|board|come)|"
            r"do\s+you\s+have\s+(?:a\s+)?(?:free\s+|available\s+)?(?:room|space|place|spot)|"
            r"saaks\w*(?:\s+\w+){0,4}\s+(?:olla|jääda|ööbida|peatuda|viibida)|"
            r"teie\s+juures\s+(?:olla|ööbida|peatuda|viibida)|kas\s+teil\s+on\s+(?:vaba\w*\s+)?(?:tuba|kohta|ruumi)|"
            r"пожить|побыть|погостить|переночевать|остаться\s+у\s+вас|"
            r"есть\s+ли\s+(?:у\s+вас\s+)?(?:свободн\w+\s+)?(?:номер\w*|мест\w*|комнат\w*)"
        ),
    ),
    (
        Intent.HUMAN,
        3,
        _rx(
            r"(?:talk|speak)\s+(?:to|with)\s+(?:a\s+|the\s+|someone|somebody|real|your\s+)?\w*|"
            r"real\s+person|human|operator|representative|"
            r"inimese\w*|inimene|töötaja\w*|operaator\w*|klienditeenindaja\w*|administraator\w*|"
            r"оператор\w*|администратор\w*|менеджер\w*|сотрудник\w*|живым\s+человеком|человеком"
        ),
    ),
    (Intent.HUMAN, 1, _rx(r"person|staff|agent|manager|someone|somebody|человек")),
    (
        Intent.QUESTION,
        1,
        _rx(
            r"what|when|how|where|which|why|do\s+you|does|is\s+there|are\s+there|are\s+you|can\s+i|could\s+you|"
            r"hours|open|opening|price|prices|cost|costs|how\s+much|fee|vaccin\w*|require\w*|"
            r"kas|mis|kui\s+palju|millal|kus|kuidas|miks|hind|hinnad|hinda|maksab|lahti|avatud|vaktsi\w*|nõu\w*|"
            r"сколько|когда|какие|какой|какая|где|как|почему|можно\s+ли|есть\s+ли|цена|цены|стоит|стоимость|"
            r"прививк\w*|вакцин\w*|работаете|часы"
        ),
    ),
    (
        Intent.GREETING,
        1,
        _rx(
            r"hi|hello|hey|good\s+(?:morning|afternoon|evening)|greetings|"
            r"tere|tervist|tere\s+päevast|tere\s+hommikust|hommikust|"
            r"здравствуйте|здравствуй|привет|добрый\s+(?:день|вечер)|доброе\s+утро|алло"
        ),
    ),
    (Intent.THANKS, 1, _rx(r"thanks|thank\s+you|thx|cheers|aitäh|aitah|tänan|tänud|suur\s+tänu|спасибо|благодарю")),
    (
        Intent.GOODBYE,
        1,
        _rx(
            r"bye|goodbye|good\s+bye|see\s+you|have\s+a\s+(?:nice|good|great)\s+(?:day|evening)|"
            r"nägemist|head\s+aega|hüvasti|kõike\s+head|head\s+päeva|"
            r"до\s+свидания|пока|всего\s+доброго|всего\s+хорошего|до\s+встречи"
        ),
    ),
]
_SPECIFIC = (Intent.CANCEL_BOOKING, Intent.CHANGE_BOOKING, Intent.CHECK_BOOKING)
_PRIORITY = {
    i: n
    for n, i in enumerate(
        (
            Intent.CANCEL_BOOKING,
            Intent.CHANGE_BOOKING,
            Intent.CHECK_BOOKING,
            Intent.BOOK,
            Intent.HUMAN,
            Intent.QUESTION,
            Intent.THANKS,
            Intent.GOODBYE,
            Intent.GREETING,
        )
    )
}


# "How does cancelling work?", "kuidas muutmine käib", "как работает отмена": a question about how
# something works is for the knowledge base, not the start of that action.
_HOW = _rx(
    r"how\s+(?:does|do|can|could|would|should|is|are)|how's|what\s+(?:is|are)\s+(?:the|your)\s+\w*\s*"
    r"(?:policy|policies|rules|terms|conditions)|what\s+happens\s+if|"
    r"kuidas|mis\s+tingimustel|mis\s+juhtub|millised\s+on\s+(?:reeglid|tingimused)|"
    r"как\s+(?:работает|происходит|проходит|устроен\w*|можно|мне)|каким\s+образом|какие\s+(?:правила|условия)|"
    r"что\s+будет,?\s+если"
)
# ... unless it names the booking to act on.
_BOOKING_NUMBER = re.compile(r"(?<!\d)[1-9]\d{5}(?!\d)")


def intents(norm: str) -> tuple[Intent, ...]:
    """Intents with any evidence, most evidence first (ties: the more specific intent first)."""
    scores: dict[Intent, int] = {}
    for intent, weight, rx in _RULES:
        hits = len(rx.findall(norm))
        if hits:
            scores[intent] = scores.get(intent, 0) + weight * hits
    if "?" in norm:
        scores[Intent.QUESTION] = scores.get(Intent.QUESTION, 0) + 1
    if _HOW.search(norm) and not _BOOKING_NUMBER.search(norm):
        for i in _SPECIFIC:
            scores.pop(i, None)
        scores[Intent.QUESTION] = scores.get(Intent.QUESTION, 0) + 3
        return tuple(sorted(scores, key=lambda i: (-scores[i], _PRIORITY.get(i, 99))))
    nouns = len(_NOUNS.findall(norm))
    if nouns:
        if any(i in scores for i in _SPECIFIC):
            for i in _SPECIFIC:
                if i in scores:
                    scores[i] += nouns
        else:
            scores[Intent.BOOK] = scores.get(Intent.BOOK, 0) + nouns
    return tuple(sorted(scores, key=lambda i: (-scores[i], _PRIORITY.get(i, 99))))


# --- yes / no -----------------------------------------------------------------------

_LEAD = r"^[\s,.!]*(?:(?:oh|well|um+|uh+|so|hmm+|ну|ой|nii|noh)[\s,.!]+)*"
_YES_STRONG = (
    r"yes|yeah|yep|yup|yea|sure|correct|that's\s+right|that\s+is\s+right|that's\s+correct|exactly|absolutely|"
    r"definitely|of\s+course|please\s+do|go\s+ahead|confirm|confirmed|i\s+confirm|sounds\s+good|no\s+problem|"
    r"jah|jaa|jep|jajah|õige|on\s+õige|sobib|kinnita|kinnitan|kinnitage|just\s+nii|muidugi|täpselt|"
    r"да|ага|угу|верно|все\s+верно|подтверждаю|конечно|правильно|давайте|согласен|согласна|точно|именно"
)
_YES_WEAK = r"ok|okay|right|great|perfect|fine|good|alright|olgu|okei|hea|selge|хорошо|ладно|ок|окей|отлично"
_NO_WORDS = (
    r"no|nope|nah|don't|do\s+not|not\s+really|that's\s+wrong|wrong|incorrect|"
    r"ei|ei\s+ole|ei\s+soovi|ei\s+sobi|pole|vale|ei\s+taha|"
    r"нет|не\s+надо|не\s+нужно|неверно|неправильно|не\s+так|не\s+хочу|не\s+подходит"
)
_YES_RE = re.compile(_LEAD + r"(?:" + _YES_STRONG + r")" + _E)
_YES_WEAK_RE = re.compile(_LEAD + r"(?:" + _YES_WEAK + r")" + r"(?:[\s,.!]*$|[\s]*[,.!]\s*)")
_NO_RE = re.compile(_LEAD + r"(?:" + _NO_WORDS + r")" + _E)
_CANCEL_THAT = re.compile(r"\bcancel\s+(?:that|it)\b|\bära\s+(?:tee|kinnita)\b|\bне\s+(?:надо|нужно)\b")
_ANYWHERE_YES = re.compile(_W + r"(?:" + _YES_STRONG + r"|" + _YES_WEAK + r")" + _E)
_ANYWHERE_NO = re.compile(_W + r"(?:" + _NO_WORDS + r")" + _E)


def yes_no(norm: str, awaiting: str | None) -> tuple[bool | None, bool]:
    """(answer, starts_with_no). ``starts_with_no`` lets the caller turn "no, it's a cat" into a correction."""
    no = _NO_RE.match(norm) is not None or (len(norm.split()) <= 4 and _CANCEL_THAT.search(norm) is not None)
    if no:
        return False, True
    if _YES_RE.match(norm) or _YES_WEAK_RE.match(norm):
        return True, False
    if awaiting == "confirmation" and len(norm.split()) <= 6:
        y = _ANYWHERE_YES.search(norm)
        n = _ANYWHERE_NO.search(norm)
        if n and not y:
            return False, True
        if y and not n:
            return True, False
    return None, False


# --- corrections ---------------------------------------------------------------------

_CORRECTION_RE = re.compile(
    _W + r"(?:actually|i\s+meant|i\s+mean|sorry,?\s+i\s+meant|correction|instead|rather|make\s+that|change\s+that\s+to|"
    r"not\s+[^,.;]{1,30}[,;]\s*(?:but\s+)?\w|"
    r"tegelikult|õigemini|mõtlesin|ma\s+mõtlesin|parandus|hoopis|mitte\s+[^,.;]{1,30}[,;]?\s*(?:vaid|aga)|"
    r"вообще-то|на\s+самом\s+деле|точнее|вернее|я\s+имел\s+в\s+виду|я\s+имела\s+в\s+виду|исправ\w*|"
    r"не\s+[^,.;]{1,30},\s*а)" + _E
)


def correction_cue(norm: str) -> bool:
    return _CORRECTION_RE.search(norm) is not None
