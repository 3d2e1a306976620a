"""The booking-phrase corpus the test speech model (``models/stt-test/``) is trained on.

``scripts/train_test_stt.py`` synthesises every phrase of :func:`training_phrases` with espeak-ng
(several voices, speeds and pitches, and once exactly as ``tests/support/speech.py`` speaks it),
and ``scripts/eval_test_stt.py`` measures the model on them and on :func:`held_out_phrases`:
unseen recombinations of the same words (same templates, new fillers; new digit sequences).

Voice tests that need a model which really hears words should say only sentences from
:func:`training_phrases`; :data:`BOOKING_DIALOGUES` are whole bookings per language (pet type,
pet name, dates, owner name, phone, yes) that the rule-based brain completes; the model is trained
on every one of them (how well it transcribes them: docs/BENCHMARKS.md, "Test speech model"). Everything here is deterministic (fixed seeds, no I/O).

Phrases are written the way they are spoken: first letter capitalised, commas where espeak
pauses, "?" on questions, no final full stop; phone numbers either as espeak reads digits
("+372 5123 4567") or as digit words ("five one two three four five six seven"). A model trained
with ``--punctuate`` (stage 9 on) writes them as :func:`written` gives: a statement ends with a full
stop, as Whisper writes one, so the voice path can end a finished statement early; the first
piece of a sentence said alone with a comma's rising tone (:func:`spoken_parts`) keeps its comma.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import lru_cache

LANGUAGES: tuple[str, ...] = ("en", "et", "ru")
SEED = 20261206


@dataclass(frozen=True, slots=True)
class Phrase:
    text: str
    language: str


# Whole bookings, one list of caller utterances per dialogue. Each one completes a booking with the
# rule-based brain (tests/integration/test_trained_stt.py checks it) and is in the training set.
BOOKING_DIALOGUES: dict[str, list[list[str]]] = {
    "en": [
        ["Hi, I need a room for my dog", "His name is Max", "Next weekend", "Mari Tamm", "+372 5123 4567", "Yes"],
        ["I need a room for my cat Luna from the 10th to the 15th", "My name is John Smith",
         "My phone is five one two three four five six seven", "Yes"],
    ],
    "et": [
        ["Tere, sooviks broneerida", "Järgmisel nädalavahetusel", "Kass", "Miisu", "Mari Tamm", "5123 4567", "Jah"],
        ["Tere, soovin broneerida koha koerale Muri", "Kümnendast kuni viieteistkümnenda detsembrini",
         "Minu nimi on Jaan Kask", "Minu telefon on viis üks kaks kolm neli viis kuus seitse", "Jah"],
    ],
    "ru": [
        ["Здравствуйте, хочу забронировать место для собаки Шарик с 10 по 15 декабря", "Меня зовут Иван Петров",
         "+372 5123 4567", "Да"],
        ["Здравствуйте, хочу забронировать место для кошки", "Кошку зовут Мурка", "На следующие выходные",
         "Меня зовут Анна Смирнова", "Мой телефон пять один два три четыре пять шесть семь", "Да"],
    ],
}  # fmt: skip

# --- fillers per language -------------------------------------------------------------

_DIGITS = {
    "en": "zero one two three four five six seven eight nine".split(),
    "et": "null üks kaks kolm neli viis kuus seitse kaheksa üheksa".split(),
    "ru": "ноль один два три четыре пять шесть семь восемь девять".split(),
}
PHONES_AS_DIGITS = ("+372 5123 4567", "5123 4567", "+372 5555 1234", "+372 5876 5432", "5301 2299")

_FILL: dict[str, dict[str, list[str]]] = {
    "en": {
        "pet": ["dog", "cat", "puppy", "kitten"],
        "name": ["Max", "Rex", "Bella", "Luna", "Fluffy", "Tom", "Rocky", "Charlie", "Daisy", "Milo"],
        "owner": ["Mari Tamm", "John Smith", "Anna Brown", "Peter Jones", "Kate Wilson"],
        "dates": ["next weekend", "tomorrow", "from the 10th to the 15th", "from the 20th to the 22nd",
                  "from Monday to Friday", "for a week", "for three nights", "next Friday"],
        "Dates": ["Next weekend", "Tomorrow", "From the 10th to the 15th", "From the 20th to the 22nd",
                  "From Monday to Friday", "For a week", "For three nights", "Next Friday"],
        "he": ["his", "her"],
    },
    "et": {
        "koerale": ["koerale", "kassile"],
        "Pet": ["Koer", "Kass"],
        "koera": ["Koera", "Kassi"],
        "name": ["Muri", "Miisu", "Pontu", "Sipsik", "Nurr", "Lotte", "Reksu", "Tups"],
        "owner": ["Mari Tamm", "Jaan Kask", "Kati Saar", "Peeter Sepp", "Liis Mets"],
        "dates": ["järgmisel nädalavahetusel", "homme", "20. detsembrist 22. detsembrini",
                  "10. detsembrist 15. detsembrini", "reedest pühapäevani", "üheks nädalaks", "kolmeks ööks",
                  "kümnendast kuni viieteistkümnenda detsembrini"],
        "Dates": ["Järgmisel nädalavahetusel", "Homme", "20. detsembrist 22. detsembrini",
                  "10. detsembrist 15. detsembrini", "Reedest pühapäevani", "Üheks nädalaks", "Kolmeks ööks",
                  "Kümnendast kuni viieteistkümnenda detsembrini"],
    },
    "ru": {
        "sobaki": ["собаки", "кошки", "кота"],
        "Sobaku": ["Собаку", "Кошку", "Кота"],
        "Pet": ["Собака", "Кошка", "Кот"],
        "name": ["Шарик", "Мурка", "Барсик", "Рекс", "Тузик", "Пушок", "Лайка", "Буся"],
        "owner": ["Иван Петров", "Анна Смирнова", "Ольга Иванова", "Сергей Кузнецов", "Мария Соколова"],
        "dates": ["с 10 по 15 декабря", "на следующие выходные", "на завтра", "с 20 по 22 декабря",
                  "на неделю", "с понедельника по пятницу", "на три ночи"],
        "Dates": ["С 10 по 15 декабря", "На следующие выходные", "Завтра", "С 20 по 22 декабря",
                  "На неделю", "С понедельника по пятницу", "На три ночи"],
    },
}  # fmt: skip

# Templates: {slot} takes a filler of that slot; {phone} a phone as digits or digit words.
_TEMPLATES: dict[str, list[str]] = {
    "en": [
        "Hi, I need a room for my {pet}", "Hello, I would like to book a room for my {pet}",
        "I need a room for my {pet} {name} {dates}", "Can I book a place for my {pet} {name} {dates}?",
        "I want to book {name} {dates}", "{he} name is {name}", "My {pet}'s name is {name}",
        "{Dates}", "I would like to come {dates}", "My name is {owner}", "{owner}", "This is {owner}",
        "My phone is {phone}", "My number is {phone}", "{phone}",
        "My phone is {phone} and my name is {owner}", "A {pet}", "It's a {pet}", "No, it's a {pet}",
        "Sorry, I meant {dates}", "No, {he} name is {name}",
    ],
    "et": [
        "Tere, soovin broneerida koha {koerale} {name}", "Soovin broneerida toa oma {koerale}",
        "Tere, ma tahan tuua {koerale} {name} {dates}", "{koera} nimi on {name}", "{Pet} {name}",
        "{Dates}", "Tooksin ta {dates}", "Minu nimi on {owner}", "{owner}", "Mina olen {owner}",
        "Minu telefon on {phone}", "Telefon {phone}", "{phone}", "Minu nimi on {owner}, telefon {phone}",
        "{Pet}", "See on {koera_lc}", "Ei, see on {koera_lc}", "Tegelikult hoopis {dates}",
        "Ei, {koera_lc} nimi on {name}",
    ],
    "ru": [
        "Здравствуйте, хочу забронировать место для {sobaki}", "Хочу забронировать место для {sobaki} {name}",
        "Здравствуйте, хочу забронировать место для {sobaki} {name} {dates}", "{Sobaku} зовут {name}",
        "{Pet} {name}", "{Dates}", "Привезу {dates}", "Меня зовут {owner}", "{owner}", "Это {owner}",
        "Мой телефон {phone}", "Телефон {phone}", "{phone}", "Меня зовут {owner}, телефон {phone}",
        "{Pet}", "Это {pet_lc}", "Нет, это {pet_lc}", "Вообще-то {dates}", "Нет, {sobaku_lc} зовут {name}",
    ],
}  # fmt: skip

# Fixed sentences: greetings, yes/no, knowledge-base questions, requests for a person.
_FIXED: dict[str, list[str]] = {
    "en": [
        "Yes", "No", "Yes please", "That's right", "No, thank you", "Hello", "Good morning", "Thank you, goodbye",
        "OK", "Actually a week, not a weekend", "Which vaccinations does my dog need?", "Where can I park?",
        "What are your opening hours?", "How much does it cost for a cat?", "Can I talk to a person please?",
        "Do you sell aquarium fish?", "I want to cancel my booking", "I want to change my booking",
        "Do you have a room next weekend?", "Can my dog have his own food?",
        "Hello, I would like to book a room for my cat",
    ],
    "et": [
        "Jah", "Ei", "Jah, palun", "Jah, see sobib", "Ei, aitäh", "Tere", "Tere päevast", "Aitäh, head aega",
        "Tere, sooviks broneerida", "Milliseid vaktsineerimisi koer vajab?", "Kus ma saan parkida?",
        "Mis kell te avatud olete?", "Kui palju maksab kass?", "Ma tahan rääkida inimesega",
        "Tere, soovin oma broneeringut muuta", "Vabandust, räägime hoopis eesti keeles, palun",
        "Kas teil on järgmisel nädalavahetusel vaba tuba?", "Ma tahan broneeringu tühistada",
    ],
    "ru": [
        "Да", "Нет", "Да, все верно", "Нет, спасибо", "Здравствуйте", "Добрый день", "Спасибо, до свидания",
        "Какие прививки нужны собаке?", "Где можно припарковаться?", "Сколько стоит место для кошки?",
        "Когда вы работаете?", "Можно поговорить с человеком?", "Я хочу отменить бронь",
        "Извините, можно по-русски? Кошку зовут Мурка", "Хочу изменить бронь",
    ],
}  # fmt: skip


def phone_words(digits: str, language: str) -> str:
    return " ".join(_DIGITS[language][int(d)] for d in digits)


def _derived(language: str, values: dict[str, str]) -> dict[str, str]:
    """Slots that follow from others (lowercase forms) so templates stay grammatical."""
    if language == "et" and "koera" in values:
        values["koera_lc"] = values["koera"].lower()
    if language == "ru":
        if "Pet" in values:
            values["pet_lc"] = values["Pet"].lower()
        if "Sobaku" in values:
            values["sobaku_lc"] = values["Sobaku"].lower()
    return values


_SLOT_RE = re.compile(r"\{(\w+)\}")


def _expand(language: str, template: str, rng: random.Random, phone_digits: str | None) -> str:
    values: dict[str, str] = {}
    fill = _FILL[language]
    for slot in _SLOT_RE.findall(template):
        if slot == "phone":
            continue
        base = {"koera_lc": "koera", "pet_lc": "Pet", "sobaku_lc": "Sobaku"}.get(slot, slot)
        if base not in values:
            values[base] = rng.choice(fill[base])
    values = _derived(language, values)
    if "{phone}" in template:
        if phone_digits is None:
            values["phone"] = rng.choice(PHONES_AS_DIGITS)
        else:
            values["phone"] = phone_words(phone_digits, language)
    text = template.format(**values)
    return text[:1].upper() + text[1:]


def _digits(rng: random.Random) -> str:
    return str(rng.choice("5")) + "".join(rng.choice("0123456789") for _ in range(7))


@lru_cache(maxsize=1)
def _split() -> tuple[tuple[Phrase, ...], tuple[Phrase, ...]]:
    rng = random.Random(SEED)
    # Keyed by (language, text): "Mari Tamm" is an English and an Estonian phrase.
    train: dict[tuple[str, str], Phrase] = {}
    held: dict[tuple[str, str], Phrase] = {}

    def add(to: dict[tuple[str, str], Phrase], text: str, language: str) -> bool:
        key = (language, text)
        if key in train or key in held:
            return False
        to[key] = Phrase(text, language)
        return True

    for language in LANGUAGES:
        for text in _FIXED[language]:
            add(train, text, language)
        for dialogue in BOOKING_DIALOGUES[language]:
            for text in dialogue:
                add(train, text, language)
        # Coverage pass: every filler of every slot appears in training, in every template using it.
        for template in _TEMPLATES[language]:
            for _ in range(4 if _SLOT_RE.search(template) else 1):
                words = rng.random() < 0.5
                add(train, _expand(language, template, rng, _digits(rng) if words else None), language)
        for slot, values in _FILL[language].items():
            for value in values:
                templates = [t for t in _TEMPLATES[language] if "{" + slot + "}" in t]
                for template in rng.sample(templates, min(3, len(templates))):
                    pick = random.Random(f"{SEED}:{language}:{slot}:{value}:{template}")
                    fixed = _expand(language, template.replace("{" + slot + "}", value), pick, None)
                    add(train, fixed, language)
        # Random recombinations: most for training, the rest held out (checked unseen).
        target_train = 260
        n = sum(1 for p in train.values() if p.language == language)
        guard = 0
        while n < target_train and guard < 10000:
            guard += 1
            template = rng.choice(_TEMPLATES[language])
            words = rng.random() < 0.5
            if add(train, _expand(language, template, rng, _digits(rng) if words else None), language):
                n += 1
        got = 0
        guard = 0
        while got < 60 and guard < 10000:
            guard += 1
            template = rng.choice([t for t in _TEMPLATES[language] if _SLOT_RE.search(t)])
            words = "{phone}" in template and rng.random() < 0.6
            if add(held, _expand(language, template, rng, _digits(rng) if words else None), language):
                got += 1
    return tuple(train.values()), tuple(held.values())


def recombination(language: str, rng: random.Random, phone_words: bool = False) -> str:
    """One random recombination of the corpus words (a template with random fillers; a phone as
    digits or as digit words; ``phone_words``: a template with a phone, as digit words). May
    coincide with a training or held-out phrase: callers that must keep the held-out set unseen
    filter those out (scripts/train_test_stt.py does)."""
    if phone_words:
        template = rng.choice([t for t in _TEMPLATES[language] if "{phone}" in t])
        return _expand(language, template, rng, _digits(rng))
    template = rng.choice(_TEMPLATES[language])
    as_words = "{phone}" in template and rng.random() < 0.5
    return _expand(language, template, rng, _digits(rng) if as_words else None)


def comma_parts(text: str) -> list[str]:
    """The pieces of a sentence a pause at a comma may cut it into, as stages up to 8 were taught
    to write each one alone ("Tere, sooviks broneerida" -> "Tere", "Sooviks broneerida"); []
    without a comma. A ``--punctuate`` model: :func:`spoken_parts` and :func:`written`."""
    if "," not in text:
        return []
    parts = [p.strip() for p in text.split(",") if p.strip()]
    return [p[:1].upper() + p[1:] for p in parts]


def spoken_parts(text: str) -> list[str]:
    """The pieces of :func:`comma_parts` as a caller pausing at the comma says them: every piece but
    the last with its comma ("Tere," rising, then "Sooviks broneerida" falling); [] without a comma."""
    parts = comma_parts(text)
    return [p + "," for p in parts[:-1]] + parts[-1:]


def written(text: str) -> str:
    """A phrase as a punctuating model writes it: a full stop after a statement; a question, an
    exclamation or a piece that ends with a comma (:func:`spoken_parts`) as it is."""
    text = text.strip()
    return text if not text or text[-1] in "?!.,…" else text + "."


def training_phrases(language: str | None = None) -> list[Phrase]:
    """Every phrase the model was trained on (about 260 per language), in a fixed order."""
    return [p for p in _split()[0] if language is None or p.language == language]


def held_out_phrases(language: str | None = None) -> list[Phrase]:
    """Unseen recombinations of the training words (60 per language), never trained on."""
    return [p for p in _split()[1] if language is None or p.language == language]


def words(text: str) -> list[str]:
    """The words of a transcript, for comparing them: lowercase, punctuation dropped, "ё" as "е"."""
    return re.findall(r"[\w+'’-]+", text.lower().replace("ё", "е").replace("’", "'"))


__all__ = [
    "BOOKING_DIALOGUES",
    "LANGUAGES",
    "PHONES_AS_DIGITS",
    "Phrase",
    "comma_parts",
    "held_out_phrases",
    "phone_words",
    "recombination",
    "spoken_parts",
    "training_phrases",
    "words",
    "written",
]
