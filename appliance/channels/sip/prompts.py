"""Fixed service prompts the SIP channel speaks itself (outside the brain): the degraded-mode
menu, the all-lines-busy notice, the recording notice, transfer outcomes."""

from __future__ import annotations

PROMPTS: dict[str, dict[str, str]] = {
    "menu": {
        "en": "Sorry, our assistant is not available right now. Press 1 to leave your number for a callback, "
        "or 0 for staff.",
        "et": "Vabandust, meie assistent ei ole praegu saadaval. Vajutage 1, et jätta tagasihelistamiseks oma number, "
        "või 0, et rääkida töötajaga.",
        "ru": "Извините, наш помощник сейчас недоступен. Нажмите 1, чтобы оставить номер для обратного звонка, "
        "или 0, чтобы поговорить с сотрудником.",
    },
    "busy": {
        "en": "All our lines are busy. We will call you back as soon as we can. Goodbye.",
        "et": "Kõik meie liinid on hõivatud. Helistame teile esimesel võimalusel tagasi. Head aega.",
        "ru": "Все линии заняты. Мы перезвоним вам, как только сможем. До свидания.",
    },
    "callback": {
        "en": "Thank you. We will call you back. Goodbye.",
        "et": "Aitäh. Helistame teile tagasi. Head aega.",
        "ru": "Спасибо. Мы вам перезвоним. До свидания.",
    },
    "transferring": {
        "en": "Connecting you to our staff.",
        "et": "Ühendan teid töötajaga.",
        "ru": "Соединяю вас с сотрудником.",
    },
    "transfer_failed": {
        "en": "I could not reach our staff. We will call you back. Goodbye.",
        "et": "Ma ei saanud töötajaga ühendust. Helistame teile tagasi. Head aega.",
        "ru": "Мне не удалось связаться с сотрудником. Мы вам перезвоним. До свидания.",
    },
    "shutdown": {
        "en": "Sorry, we must end this call now. Please call back shortly. Goodbye.",
        "et": "Vabandust, peame kõne nüüd lõpetama. Palun helistage varsti uuesti. Head aega.",
        "ru": "Извините, нам нужно завершить звонок. Перезвоните, пожалуйста, чуть позже. До свидания.",
    },
    "recording": {
        "en": "This call is recorded.",
        "et": "Seda kõnet salvestatakse.",
        "ru": "Этот звонок записывается.",
    },
}


def prompt(key: str, language: str | None) -> str:
    texts = PROMPTS[key]
    return texts.get(language or "en") or texts["en"]
