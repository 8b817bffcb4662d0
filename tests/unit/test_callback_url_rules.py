"""Which callback URLs we post to: the platform's public https endpoints only (no SSRF)."""

import pytest
from wa_notify.domain.callback_urls import address_problem, literal_address, url_problem

PUBLIC = [
    "https://platform.example.com/hooks/wa",
    "https://Platform.Example.COM./hooks",  # case and a trailing dot are the same name
    "https://93.184.215.14/hooks",
    "https://[2606:4700::6810:84e5]:8443/hooks",
    "https://[64:ff9b::5db8:d70e]/hooks",  # NAT64 of a public IPv4 address
    "https://1.example.com/x",  # a name whose first label is a number is still a name
    "https://user:pass@platform.example.com/x",
]

# (url, why) refused in AWS; the reason names the class of address.
REFUSED = [
    ("http://platform.example.com/hooks", "https"),
    ("ftp://platform.example.com/", "https"),
    ("https://169.254.169.254/latest/meta-data/", "metadata"),
    ("https://2852039166/", "metadata"),  # 169.254.169.254 as one decimal number
    ("https://0xa9.0xfe.0xa9.0xfe/", "metadata"),
    ("https://0251.0376.0251.0376/", "metadata"),  # octal
    ("https://169.254.43518/", "metadata"),  # a.b.c with c filling two bytes
    ("https://[::ffff:169.254.169.254]/", "metadata"),  # IPv4-mapped IPv6
    ("https://[::ffff:a9fe:a9fe]/", "metadata"),
    ("https://[64:ff9b::a9fe:a9fe]/", "metadata"),  # NAT64 of the metadata address
    ("https://[fd00:ec2::254]/latest/meta-data/", "metadata"),  # AWS metadata over IPv6
    ("https://169.254.170.2/v2/credentials", "metadata"),  # ECS task credentials
    ("https://100.100.100.200/", "metadata"),  # Alibaba
    ("https://metadata.google.internal/computeMetadata/v1/", "metadata"),
    ("https://metadata/computeMetadata/v1/", "metadata"),
    ("https://instance-data/latest/", "metadata"),
    ("https://127.0.0.1/", "loopback"),
    ("https://127.1/", "loopback"),
    ("https://0x7f.1/", "loopback"),
    ("https://017700000001/", "loopback"),
    ("https://2130706433/", "loopback"),
    ("https://[::1]/", "loopback"),
    ("https://[::ffff:127.0.0.1]/", "loopback"),
    ("https://localhost/", "loopback"),
    ("https://LOCALHOST./", "loopback"),
    ("https://api.localhost/", "loopback"),
    ("https://0.0.0.0/", "unspecified"),
    ("https://0/", "unspecified"),
    ("https://[::]/", "unspecified"),
    ("https://0.1.2.3/", "unspecified"),
    ("https://10.0.0.1/", "private"),
    ("https://172.16.5.4/", "private"),
    ("https://192.168.1.1/", "private"),
    ("https://[fc00::1]/", "private"),  # unique-local fc00::/7
    ("https://[fdff:ffff::1]/", "private"),
    ("https://[::ffff:10.0.0.1]/", "private"),
    ("https://169.254.1.1/", "link-local"),
    ("https://[fe80::1]/", "link-local"),
    ("https://[fe80::1%25eth0]/", "link-local"),
    ("https://100.64.0.1/", "carrier-grade NAT"),
    ("https://100.127.255.254/", "carrier-grade NAT"),
    ("https://224.0.0.1/", "public unicast"),
    ("https://[ff02::1]/", "public unicast"),
    ("https://255.255.255.255/", "private"),
    ("https://[::7f00:1]/", "public unicast"),  # deprecated IPv4-compatible IPv6
    ("https://db.internal/", "private network"),
    ("https://printer.local/", "private network"),
    ("https://router.home.arpa/", "private network"),
    ("https://intranet/", "fully qualified"),  # completed by the resolver's search domains
    ("https://1.2.3.256/", "not a valid address"),
    ("https://example.0x/", "not a valid address"),
    ("https://platform.example.com:99999/", "not a valid URL"),
]


@pytest.mark.parametrize("url", PUBLIC)
def test_public_https_urls_are_allowed(url):
    assert url_problem(url) is None


@pytest.mark.parametrize(("url", "why"), REFUSED)
def test_everything_but_a_public_https_url_is_refused(url, why):
    # GIVEN a URL naming our own network, in any spelling
    # WHEN judged for AWS
    problem = url_problem(url)
    # THEN it is refused, saying why
    assert problem is not None and why in problem, problem


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/hooks", "http://localhost:3000/_local/callbacks/sink", "http://api.localhost/",
    "https://[::1]:8443/", "http://0x7f.1/", "http://platform.example.com/hooks",
])
def test_the_local_stack_also_takes_http_and_loopback(url):
    assert url_problem(url, allow_local=True) is None


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/", "http://2852039166/", "http://[fd00:ec2::254]/", "http://10.0.0.1/",
    "http://192.168.1.1/", "http://[fc00::1]/", "http://169.254.1.1/", "http://[fe80::1]/", "http://0.0.0.0:8080/",
    "http://[::]/", "http://100.64.0.1/", "http://metadata.google.internal/", "http://[::ffff:10.0.0.1]/",
])
def test_the_local_stack_never_takes_private_link_local_or_metadata(url):
    assert url_problem(url, allow_local=True) is not None


@pytest.mark.parametrize(("address", "allowed"), [
    ("93.184.215.14", True), ("2606:4700::6810:84e5", True), ("169.254.169.254", False), ("fd00:ec2::254", False),
    ("10.1.2.3", False), ("::ffff:169.254.169.254", False), ("127.0.0.1", False), ("::1", False), ("not an address", False),
])
def test_each_resolved_address_is_judged_alone(address, allowed):
    assert (address_problem(address) is None) is allowed


@pytest.mark.parametrize(("host", "address"), [
    ("2852039166", "169.254.169.254"), ("0x7f.1", "127.0.0.1"), ("0X7F.0.0.1", "127.0.0.1"), ("10.1", "10.0.0.1"),
    ("017700000001", "127.0.0.1"), ("1.2.3", "1.2.0.3"), ("::1", "::1"),
    ("platform.example.com", None), ("1.2.3.4.5", None), ("0_7", None), ("٣", None), ("4294967296", None),
])
def test_ip_literals_are_read_in_every_spelling_a_resolver_accepts(host, address):
    found = literal_address(host)
    assert (str(found) if found else None) == address
