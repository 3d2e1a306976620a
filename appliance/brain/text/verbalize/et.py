"""Estonian number words, cardinal and ordinal, in the cases the templates need."""

from __future__ import annotations

_ET_UNITS = "null üks kaks kolm neli viis kuus seitse kaheksa üheksa".split()
_ET_UNITS_GEN = "nulli ühe kahe kolme nelja viie kuue seitsme kaheksa üheksa".split()
_ET_UNITS_ORD = "nullis esimene teine kolmas neljas viies kuues seitsmes kaheksas üheksas".split()


def _et_parts(n: int) -> list[tuple[str, str, str]]:
    """The components of ``n`` (< 10**6) as (nominative, genitive, ordinal) triples."""
    parts: list[tuple[str, str, str]] = []
    thousands, n = divmod(n, 1000)
    if thousands:
        if thousands > 1:
            parts.extend(_et_parts(thousands))
        parts.append(("tuhat", "tuhande", "tuhandes"))
    hundreds, n = divmod(n, 100)
    if hundreds:
        nom = "sada" if hundreds == 1 else _ET_UNITS[hundreds] + "sada"
        gen = "saja" if hundreds == 1 else _ET_UNITS_GEN[hundreds] + "saja"
        parts.append((nom, gen, gen + "s"))
    if n >= 20:
        tens, n = divmod(n, 10)
        g = _ET_UNITS_GEN[tens]
        parts.append((_ET_UNITS[tens] + "kümmend", g + "kümne", g + "kümnes"))
    if n == 10:
        parts.append(("kümme", "kümne", "kümnes"))
    elif n > 10:
        g = _ET_UNITS_GEN[n - 10]
        parts.append((_ET_UNITS[n - 10] + "teist", g + "teistkümne", g + "teistkümnes"))
    elif n:
        parts.append((_ET_UNITS[n], _ET_UNITS_GEN[n], _ET_UNITS_ORD[n]))
    return parts


def _et_cardinal(n: int, case: str | None = None) -> str:
    if n == 0:
        return "nulli" if case in ("genitive", "g") else "null"
    out = []
    millions, n = divmod(n, 10**6)
    if millions:
        out.append("miljon" if millions == 1 else f"{_et_cardinal(millions)} miljonit")
    if n:
        out.append(" ".join(p[1] if case in ("genitive", "g") else p[0] for p in _et_parts(n)))
    return " ".join(out)


_ET_CASE_ENDINGS = {"adessive": "l", "elative": "st", "allative": "le", "inessive": "s", "translative": "ks"}


def _et_ordinal(n: int, case: str | None = None) -> str:
    """Nominative ordinal ("kahekümne esimene"), or a case form built on its genitive ("kuuendal")."""
    parts = _et_parts(n) if n else [("null", "nulli", "nullis")]
    head = " ".join(p[1] for p in parts[:-1])
    last = parts[-1][2]
    if case:
        if last == "esimene":
            gen = "esimese"
        elif last == "teine":
            gen = "teise"
        else:
            gen = last[:-1] + "nda"  # kolmas -> kolmanda, kuues -> kuuenda
        last = gen + _ET_CASE_ENDINGS.get(case, "")
    return f"{head} {last}".strip()
