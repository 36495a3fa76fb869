"""The synthetic platform's vocabulary: kinds, roles and reasons, their integer codes, units.

The public tuples name the values that appear in the tables; the generator
works on integer codes, which are indices into them (``DEV`` is
``IDENTIFIER_KINDS.index("device")``, ``BAN`` is ``ACTIONS.index("ban")``, ...).
Value vocabularies used by more than one step (countries, signup channels,
email domains) live here too.
"""

from __future__ import annotations

import numpy as np

IDENTIFIER_KINDS = ("device", "ip", "card", "phone", "email", "address")
STRONG_KINDS = ("device", "card", "phone")
EDGE_KINDS = ("transfer", "message")
ACTIONS = ("ban", "violation", "cleared")
REASONS = ("fraud", "spam", "chargeback", "harassment")
ROLES = ("ordinary", "offender", "evader", "multi_account")
ACTOR_TYPES = ("fraud", "spam", "abuse")
TABLE_NAMES = ("accounts", "identifiers", "edges", "enforcement")

DEV, IP, CARD, PHONE, EMAIL, ADDR = range(6)
TRANSFER, MESSAGE = 0, 1
BAN, VIOLATION, CLEARED = 0, 1, 2
FRAUD, SPAM, CHARGEBACK, HARASSMENT = range(4)
ORDINARY, OFFENDER, EVADER, MULTI = range(4)

DAY = 86_400
HOUR = 3_600
HUB = np.int64(1) << 40  # identifier keys at or above this are hub values

COUNTRIES = ("US", "GB", "DE", "FR", "BR", "IN", "NG", "PH", "ID", "MX")
COUNTRY_P = np.array([0.30, 0.10, 0.09, 0.07, 0.10, 0.12, 0.05, 0.06, 0.06, 0.05])
COUNTRY_P_OFF = np.array([0.22, 0.07, 0.06, 0.05, 0.13, 0.13, 0.12, 0.09, 0.08, 0.05])
CHANNELS = ("organic", "referral", "paid_ads", "partner", "api")
CHANNEL_P = np.array([0.50, 0.20, 0.20, 0.08, 0.02])
CHANNEL_P_OFF = np.array([0.40, 0.14, 0.28, 0.10, 0.08])
DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "hotmail.com",
           "proton.me", "gmx.de", "mail.ru", "yandex.com", "aol.com")
DOMAIN_P = np.array([0.40, 0.14, 0.10, 0.10, 0.08, 0.05, 0.04, 0.04, 0.03, 0.02])
EMAIL_VARIANTS = ("", "+1", "+shop", "+x")
# how an address is written: as allocated, with capitals (Anna.Smith@Gmail.com), or with a dot
# after the first letter (a.nna.smith@...: the same mailbox at gmail.com, another one elsewhere)
EMAIL_STYLES = ("plain", "capitals", "dotted")
PLAIN, CAPITALS, DOTTED = range(3)
# how a phone number is written: +E.164, spaced, dashed, national (trunk prefix, no country code)
PHONE_FORMATS = ("e164", "spaced", "dashed", "national")
NATIONAL = PHONE_FORMATS.index("national")
PHONE_FORMAT_SHIFT = 32  # a phone key is its number id | format << PHONE_FORMAT_SHIFT
