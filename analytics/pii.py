"""Masking of personal data in transcripts: ONE function for pages, API and exports.

Deliberately over-eager: a masked order number is a small loss, a leaked card number is not.

Rules, applied in this order (each pass only sees what the earlier ones left):

1. E-mail -> ``[email]``. The local part and the domain are ASCII (``@`` or full-width ``＠``),
   so Chinese text glued on either side is kept: "我的邮箱是li@example.cn谢谢" ->
   "我的邮箱是[email]谢谢". Punycode labels (``xn--...``) are ASCII and match. A domain
   written in CJK ("li@例子.中国") cannot be told apart from the text glued after it, so
   it is masked up to the next space or punctuation mark, eating glued text (over-eager).
2. Resident ID (18 characters: 17 digits + check digit 0-9/X) -> ``[id]`` when the
   ISO 7064 MOD 11-2 checksum is valid and the birth date is a real date between 1900 and
   today. An all-digit run that fails either check is left to rule 4 and becomes ``[card]``;
   one ending in X is still ``[id]`` (nothing else is written that way). The old 15-digit
   form has no checksum and was withdrawn in 2013: it is masked by rule 4 like any other
   15-digit run.
3. Mainland phones -> ``[phone]``: mobiles 1[3-9]xxxxxxxxx with an optional +86/86/0086 and
   space/dash grouping (138-1234-5678), landlines with a separated area code (010-12345678,
   (0755)1234567, optional extension). They run before rule 4 because "+86 138 1234 5678"
   has 13 digits.
4. Card-like runs of 13-19 digits (one run, or groups of 3+ digits split by one space or
   dash) -> ``[card]`` when the Luhn checksum is valid, and also when it is not if the run has
   16-19 digits (a card with one mistyped digit still leaks the rest, and some issuers'
   numbers do not pass Luhn). A Luhn-invalid run of 13-15 digits is phone-length (E.164
   allows 15) and is left to rule 5, so every 13-19 digit run ends up masked.
5. Other phone-like numbers of 7-15 digits -> ``[phone]``; dates (2024-03-05, 2024/3/5,
   05.03.2024) and times are kept. A phone-like stretch of more than 15 digits (two numbers
   in a row) is split where it can be, and each piece of 7-15 digits is masked; a single
   unseparated run of 20+ digits is no known kind of personal data and is kept.

Boundaries: a number must not touch an ASCII letter, digit or underscore (so "order A12345678"
and hashes are kept, as before), but CJK characters and punctuation are boundaries, so
"我的电话13812345678" is masked. Digits are matched with ``\\d``, which includes full-width
digits (０-９); checksums use ``int()``, which reads them too. Text outside a match is never
changed.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

EMAIL_MASK = "[email]"
CARD_MASK = "[card]"
PHONE_MASK = "[phone]"
ID_MASK = "[id]"

# What a number must not touch: ASCII (and full-width) letters, any digit, underscore. Not `\w`,
# which matches CJK characters and would make "电话13812345678" one word.
_NOT_AFTER = r"(?<![\dA-Za-zＡ-Ｚａ-ｚ_])"
_NOT_BEFORE = r"(?![\dA-Za-zＡ-Ｚａ-ｚ_])"
# A "+" right before a number makes it an international phone, never a card or ID.
_NOT_AFTER_OR_PLUS = r"(?<![\dA-Za-zＡ-Ｚａ-ｚ_+＋])"
_GROUP_SEPARATOR = r"[ \-\u3000－]"

_ASCII_LABEL = r"[A-Za-z0-9\-]+"
_EMAIL = re.compile(
    r"[A-Za-z0-9._%+\-]+[@＠]"
    # ASCII domain first; its last label starts with a letter (a TLD or xn--), so it stops at CJK.
    rf"(?:(?:{_ASCII_LABEL}\.)+[A-Za-z][A-Za-z0-9\-]*"
    # CJK (IDN) domain: no way to see where it ends, so it runs to the next space/punctuation.
    r"|[^\W_][\w\-]*(?:\.[\w\-]+)+)"
)

_RESIDENT_ID = re.compile(
    rf"{_NOT_AFTER_OR_PLUS}(\d{{6}}){_GROUP_SEPARATOR}?(\d{{8}}){_GROUP_SEPARATOR}?(\d{{3}})([\dXxＸｘ]){_NOT_BEFORE}"
)
_ID_WEIGHTS = tuple(2 ** (17 - position) % 11 for position in range(17))
_ID_CHECK_DIGITS = "10X98765432"
_EARLIEST_BIRTH_YEAR = 1900

_CN_MOBILE = rf"(?:(?:[+＋]|00)?86{_GROUP_SEPARATOR}?)?1[3-9]\d(?:{_GROUP_SEPARATOR}?\d{{4}}){{2}}"
# Area codes: 010 and 02x have 3 digits, the others 0[3-9]xx. A separator (or parentheses) is
# required: an unseparated 0xxxxxxxxxx is caught by the generic phone rule anyway.
_CN_AREA_CODE = r"0(?:10|2\d|[3-9]\d\d)"
_CN_LANDLINE = (
    rf"(?:[(（]{_CN_AREA_CODE}[)）]{_GROUP_SEPARATOR}?|{_CN_AREA_CODE}{_GROUP_SEPARATOR})"
    rf"\d{{3,4}}{_GROUP_SEPARATOR}?\d{{4}}(?:(?:-|转|ext\.? ?)\d{{1,6}})?"
)
_CN_PHONE = re.compile(rf"{_NOT_AFTER_OR_PLUS}(?:{_CN_MOBILE}|{_CN_LANDLINE}){_NOT_BEFORE}")

# Groups of 3+ digits keep "2024-03-05 2024-03-06" (16 digits) from looking like a card.
_CARD = re.compile(rf"{_NOT_AFTER_OR_PLUS}(?:\d{{3,}}+{_GROUP_SEPARATOR}){{0,5}}\d{{3,}}+{_NOT_BEFORE}")
_MIN_CARD_DIGITS, _MAX_CARD_DIGITS = 13, 19
_MIN_UNCHECKED_CARD_DIGITS = 16

# Possessive digit runs: every split of a digit run is then the same one, so a long run of digits
# cannot make the regex backtrack exponentially (the previous `(?:\d[\d()]*...){6,14}` took seconds
# on 26 digits followed by a letter).
_PHONE_PIECE = r"[+＋]?[(（]?\d++[)）]?"
_PHONE_BODY = rf"{_PHONE_PIECE}(?:[ .\-/\u3000－．／]?[(（]?\d++[)）]?)*+"
_DATE = r"\d{4}(?P<date_separator>[\-/.])\d{1,2}(?P=date_separator)\d{1,2}|\d{1,2}[/.]\d{1,2}[/.]\d{2,4}"
# A date is tried first at each position and kept, so "2024-03-05" never becomes a phone.
_PHONE_OR_DATE = re.compile(rf"{_NOT_AFTER_OR_PLUS}(?:(?P<date>{_DATE})(?!\d)|(?P<phone>{_PHONE_BODY}){_NOT_BEFORE})")
_PHONE_GROUP = re.compile(r"[+＋]?[(（]?\d+[)）]?")
_PHONE_WORD = re.compile(r"\S+")
_MIN_PHONE_DIGITS, _MAX_PHONE_DIGITS = 7, 15

_ANY_DIGIT = re.compile(r"\d")


def mask_pii(text: str) -> str:
    """Replace e-mail addresses, resident IDs, card-like and phone numbers in `text`."""
    if not text:
        return text
    # Most messages have neither; skipping the passes keeps transcript pages cheap.
    if "@" in text or "＠" in text:
        text = _EMAIL.sub(EMAIL_MASK, text)
    if _ANY_DIGIT.search(text) is None:
        return text
    text = _RESIDENT_ID.sub(_id_or_keep, text)
    text = _CN_PHONE.sub(PHONE_MASK, text)
    text = _CARD.sub(_card_or_keep, text)
    return _PHONE_OR_DATE.sub(_phone_or_keep, text)


def _count_digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def _id_or_keep(match: re.Match[str]) -> str:
    region, birth_date, sequence, check = match.groups()
    if check in "XxＸｘ":
        return ID_MASK
    if _resident_id_is_valid(region + birth_date + sequence, check) and _is_plausible_birth_date(birth_date):
        return ID_MASK
    return match.group(0)  # an 18-digit run: the card rule masks it


def resident_id_check_digit(first_17_digits: str) -> str:
    """ISO 7064 MOD 11-2 check character of a mainland resident ID (GB 11643-1999)."""
    total = sum(int(digit) * weight for digit, weight in zip(first_17_digits, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_DIGITS[total % 11]


def _resident_id_is_valid(first_17_digits: str, check: str) -> bool:
    return resident_id_check_digit(first_17_digits) == str(int(check))


def _is_plausible_birth_date(yyyymmdd: str) -> bool:
    try:
        birth = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        return False
    return birth.year >= _EARLIEST_BIRTH_YEAR and birth <= date.today()


def luhn_is_valid(digits: str) -> bool:
    """Luhn (mod 10) checksum of a card number given as digits only."""
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card_or_keep(match: re.Match[str]) -> str:
    found = match.group(0)
    digits = "".join(ch for ch in found if ch.isdigit())
    if not _MIN_CARD_DIGITS <= len(digits) <= _MAX_CARD_DIGITS:
        return found
    if luhn_is_valid(digits) or len(digits) >= _MIN_UNCHECKED_CARD_DIGITS:
        return CARD_MASK
    return found  # 13-15 digits failing Luhn: phone-length, the phone rule masks it


def _phone_or_keep(match: re.Match[str]) -> str:
    found = match.group(0)
    if match.group("date") is not None:
        return found
    digits = _count_digits(found)
    if digits <= _MAX_PHONE_DIGITS:
        return PHONE_MASK if digits >= _MIN_PHONE_DIGITS else found
    return _mask_phone_pieces(found)


def _mask_phone_pieces(found: str) -> str:
    """Split a stretch of more than 15 digits into phone-sized pieces and mask each one.

    Words (split at whitespace) are packed greedily into pieces of at most 15 digits, a new
    piece starting at a "+"; a word longer than that is packed the same way by its digit
    groups. A piece with fewer than 7 digits is kept."""
    return _pack_and_mask(found, _PHONE_WORD, split_long=True)


def _pack_and_mask(found: str, unit: re.Pattern[str], *, split_long: bool) -> str:
    output: list[str] = []
    emitted_up_to = piece_start = piece_digits = 0

    def close_piece(piece_end: int) -> None:
        nonlocal emitted_up_to
        output.append(found[emitted_up_to:piece_start])  # separator text before the piece
        output.append(_mask_phone_piece(found[piece_start:piece_end], piece_digits))
        emitted_up_to = piece_end

    piece_end = 0
    for part in unit.finditer(found):
        part_digits = _count_digits(part.group(0))
        if piece_digits and (part.group(0)[0] in "+＋" or piece_digits + part_digits > _MAX_PHONE_DIGITS):
            close_piece(piece_end)
            piece_digits = 0
        if split_long and part_digits > _MAX_PHONE_DIGITS:
            output.append(found[emitted_up_to : part.start()])
            output.append(_pack_and_mask(part.group(0), _PHONE_GROUP, split_long=False))
            emitted_up_to = part.end()
            continue
        if not piece_digits:
            piece_start = part.start()
        piece_end = part.end()
        piece_digits += part_digits
    if piece_digits:
        close_piece(piece_end)
    return "".join(output) + found[emitted_up_to:]


def _mask_phone_piece(piece: str, digits: int) -> str:
    return PHONE_MASK if _MIN_PHONE_DIGITS <= digits <= _MAX_PHONE_DIGITS else piece


def mask_value(value: Any) -> Any:
    """`mask_pii` applied to every string inside JSON-like data (entities, citations)."""
    if isinstance(value, str):
        return mask_pii(value)
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    return value


def should_mask(user: Any, *, requested: bool = True) -> bool:
    """Mask unless the user may see PII *and* did not ask for masking."""
    return requested or not user.has_perm("analytics.view_pii")
