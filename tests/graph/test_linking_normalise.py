"""graph/linking/normalise.py: one spelling per email, phone and IP network."""

from __future__ import annotations

from ringfence.graph.linking.normalise import ip_networks, normalise_emails, normalise_phones


def test_emails_drop_case_plus_tags_and_gmail_dots_only():
    full, local = normalise_emails([
        "John.Smith+shop@GoogleMail.com",   # gmail: dots and tag go, googlemail is gmail
        "john.smith@gmail.com",
        "John.Smith+x@Outlook.com",         # outlook: the tag goes, the dot stays
        "a@b@example.org",                  # the last @ separates the domain
        "  Bob@Yahoo.com ",
        "no-at-sign",
    ])
    assert full.tolist() == ["johnsmith@gmail.com", "johnsmith@gmail.com",
                             "john.smith@outlook.com", "a@b@example.org", "bob@yahoo.com",
                             "no-at-sign"]
    assert local.tolist() == ["johnsmith", "johnsmith", "john.smith", "a@b", "bob", None]


def test_phones_to_e164_national_needs_a_region():
    got = normalise_phones(["+1 (415) 555-2671", "+14155552671", "415-555-2671", "n/a"],
                           region="US")
    # not a number at all: its stripped spelling, which can still agree exactly
    assert got.tolist() == ["+14155552671", "+14155552671", "+14155552671", "na"]
    # a UK national number read with the UK's rules
    assert normalise_phones(["(020) 7946 0958"], region="GB").tolist() == ["+442079460958"]
    # without a region, a national number keeps its stripped spelling
    assert normalise_phones(["020 7946 0958"]).tolist() == ["02079460958"]


def test_ip_networks_v4_24_v6_48():
    got = ip_networks(["81.2.69.160", "81.2.69.7", "81.2.70.7", "2001:db8:85a3:1::1",
                       "2001:0db8:85a3:ffff::2", "not-an-ip", ""])
    assert got.tolist() == ["81.2.69.0/24", "81.2.69.0/24", "81.2.70.0/24",
                            "2001:db8:85a3::/48", "2001:db8:85a3::/48", None, None]


def test_emails_lower_case_beyond_ascii():
    # one non-ASCII value sends the whole batch through Unicode's lower case
    full, local = normalise_emails(["ÉLODIE.Roux+x@GMail.com", "Ana@Example.org"])
    assert full.tolist() == ["élodieroux@gmail.com", "ana@example.org"]
    assert local.tolist() == ["élodieroux", "ana"]


def test_ip_networks_only_ipv4_addresses_get_a_24():
    got = ip_networks(["1.2.3", "1.2.3.4.5", " 10.0.0.9 ", "::ffff:10.0.0.9", "fe80::1%eth0"])
    assert got.tolist() == [None, None, "10.0.0.0/24", "::/48", "fe80::/48"]
