"""What an email, a password and a person's name must be to open an account.

Pure rules (no I/O): emails are normalised so that look-alikes are one address or refused,
passwords are judged by an estimate of how guessable they are (NIST SP 800-63B: length, no
composition rules, refuse common and context-derived ones), names must show something.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import email_validator
from confusable_homoglyphs import categories, confusables
from zxcvbn import zxcvbn

from polyshop.domain.errors import ValidationError

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
# zxcvbn's 0-4 scale: 3 is "safely unguessable: moderate protection from an offline attack".
MIN_PASSWORD_SCORE = 3
# zxcvbn's cost grows with the length; what is past this is checked for length only.
_SCORED_PREFIX = 100
_NEUTRAL_SCRIPTS = frozenset({"COMMON", "INHERITED"})
# Characters that draw nothing although Unicode files them as letters (fillers, a blank braille
# pattern): with the format, control and separator categories, what a name must not be only.
_BLANK_LETTERS = frozenset("\u115f\u1160\u2800\u3164\uffa0")


def normalise_email(raw: str) -> str:
    """One spelling per address: NFKC (a fullwidth c, U+FF43, is c), validated and normalised
    by email-validator (internationalised domains too), lowercased. A local part that mixes
    scripts or is made only of look-alikes of ASCII letters (a Cyrillic es, U+0441, for c) is
    refused: it would be a second account that reads like someone else's."""
    text = unicodedata.normalize("NFKC", raw).strip()
    try:
        # `test_environment` admits the reserved `.test` domain (demo shops, tests); the other
        # special-use domains (`.local`, `.invalid`, ...) stay refused.
        valid = email_validator.validate_email(
            text, check_deliverability=False, test_environment=True
        )
    except email_validator.EmailNotValidError:
        raise ValidationError("this is not a valid email address", field="email") from None
    local, domain = valid.local_part.lower(), valid.ascii_domain.lower()
    if _looks_like_another_address(local):
        raise ValidationError(
            "the part before @ mixes alphabets or imitates Latin letters; write it in one alphabet",
            field="email",
        )
    email = f"{local}@{domain}"
    if len(email) > 255:
        raise ValidationError("this email address is too long", field="email")
    return email


def _looks_like_another_address(local: str) -> bool:
    if local.isascii():
        return False
    scripts = categories.unique_aliases(local) - _NEUTRAL_SCRIPTS
    if len(scripts) > 1:
        return True
    lookalikes = {
        found["character"]
        for found in confusables.is_confusable(local, greedy=True, preferred_aliases=[]) or []
        if any(glyph["c"].isascii() for glyph in found["homoglyphs"])
    }
    return all(ch.isascii() or ch in lookalikes for ch in local)


def visible_name(raw: str, *, field: str) -> str:
    """The name without surrounding blanks; refused when nothing visible is left once invisible
    characters (zero-width spaces, joiners, fillers, controls) are taken out."""
    name = unicodedata.normalize("NFC", raw).strip()
    if not any(_draws_something(ch) for ch in name):
        raise ValidationError(f"{field.replace('_', ' ')} must not be blank", field=field)
    return name


def _draws_something(ch: str) -> bool:
    return unicodedata.category(ch)[0] not in "CZ" and ch not in _BLANK_LETTERS


def check_password(password: str, *, email: str, names: Iterable[str] = ()) -> None:
    """Refuse passwords that are too short, too long, or guessable: common ones, repeats and
    sequences, and those built on the person's own email or names (zxcvbn with them as
    context). No rules about character classes, as NIST SP 800-63B advises."""
    if len(password) < MIN_PASSWORD:
        raise ValidationError(
            f"password must be at least {MIN_PASSWORD} characters", field="password"
        )
    if len(password) > MAX_PASSWORD:
        raise ValidationError(
            f"password must be at most {MAX_PASSWORD} characters", field="password"
        )
    if any(unicodedata.category(ch) == "Cc" for ch in password):
        raise ValidationError("password must not contain control characters", field="password")
    local = email.split("@", 1)[0]
    if password.lower() in (email.lower(), local.lower()):
        raise ValidationError("password must not be your email address", field="password")
    context = _context_words(email, names)
    scored = password[:_SCORED_PREFIX]
    result = zxcvbn(scored, user_inputs=sorted(context))
    if result["score"] < MIN_PASSWORD_SCORE:
        warning = result["feedback"]["warning"]
        advice = f": {warning.rstrip('.').lower()}" if warning else ""
        raise ValidationError(f"password is too easy to guess{advice}", field="password")
    # zxcvbn counts a name as one uncommon word; what is left without it must hold on its own.
    rest = scored.lower()
    for word in sorted(context, key=len, reverse=True):
        rest = rest.replace(word, "")
    if rest != scored.lower() and zxcvbn(rest)["score"] < MIN_PASSWORD_SCORE - 1:
        raise ValidationError(
            "password is built on your name or email address; choose one that is not",
            field="password",
        )


def _context_words(email: str, names: Iterable[str]) -> set[str]:
    parts = [email.lower(), *re.split(r"[@._+\-]+", email.lower())]
    for name in names:
        parts.extend(re.split(r"\W+", name.lower()))
    return {part for part in parts if len(part) >= 3}
