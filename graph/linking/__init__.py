"""Identity linking: which accounts are the same actor (Fellegi-Sunter, as Splink does it)."""

DEFAULT_SETTINGS = {
    "comparisons": [
        {"name": "device", "kind": "device"},
        {"name": "card", "kind": "card"},
        {"name": "phone", "kind": "phone", "normalise": "phone"},
        {"name": "email", "kind": "email", "normalise": "email", "partial": "email_local"},
        {"name": "ip", "kind": "ip", "partial": "ip_network"},
        {"name": "address", "kind": "address"},
    ],
    "other_kinds": True,
    "hub_bands": [2, 3, 5, 10],
    "after_ban_days": 30,
    "prior": None,
    "threshold": 0.5,
    "phone_region": None,
}
