"""Which callback URLs we may post to: the platform's, never our own network (SSRF).

Pure rules over a URL's scheme, its host as written and each address it resolves to; the
resolution itself is the adapter's (adapters/callback_http.py). Every function answers a
reason (used as the 422 message or the parked callback's `last_error`) or None when allowed.

`allow_local` is the local stack's setting: a developer's platform listens on the same
laptop, so `http` and loopback are allowed there, and still never private, link-local,
metadata or unspecified addresses.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Named for a clearer message; every one of them is non-global anyway.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack instance metadata
    "169.254.170.2",  # AWS ECS task metadata and credentials
    "169.254.169.123",  # AWS time sync
    "fd00:ec2::254",  # AWS instance metadata over IPv6
    "fd00:ec2::123",
    "100.100.100.200",  # Alibaba Cloud
    "192.0.0.192",  # Oracle Cloud
))
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata.goog", "metadata.azure.internal",
                            "instance-data", "instance-data.ec2.internal", "metadata"})
# Names that only mean something inside a network: RFC 6761 `localhost`, ICANN's private-use
# `.internal` (AWS's and GCP's internal DNS), mDNS `.local`, home networks.
PRIVATE_SUFFIXES = (".internal", ".local", ".localdomain", ".home.arpa", ".lan", ".svc")  # .svc: Kubernetes services
THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # 0.x.x.x: Linux connects it to this host
SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT; Alibaba's metadata lives here
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the well-known prefix: the last 32 bits are an IPv4 address
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+", re.ASCII)
# One part of an inet_aton address: hex, octal (a leading 0) or decimal, ASCII digits only.
_IPV4_PART = re.compile(r"0x[0-9a-f]*|0[0-7]*|[1-9][0-9]*", re.ASCII)


def has_space_or_control(text: str) -> bool:
    """A space or control character in a URL as written: parsers drop or encode some silently."""
    return any(ord(c) < 0x21 or c == "\x7f" for c in text)


def url_problem(url: str, *, allow_local: bool = False) -> str | None:
    """The URL as written: its scheme and its host (names and IP literals in any spelling)."""
    if has_space_or_control(url):
        return "cannot contain spaces or control characters"  # a URL parser drops some silently: another URL than the one given
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    if port == 0:
        return "has port 0"
    return scheme_problem(parts.scheme, allow_local=allow_local) or host_problem(parts.hostname or "", allow_local=allow_local)


def shown(url: str | None) -> str | None:
    """A callback URL as read back: a password in it (basic auth some platforms' endpoints take)
    is masked, so it never reaches a response, a log or the dashboard again."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{parts.username}:***@{host}").geturl()


def scheme_problem(scheme: str, *, allow_local: bool = False) -> str | None:
    allowed = ("https", "http") if allow_local else ("https",)
    return None if scheme.lower() in allowed else "must be an https URL"


def host_problem(host: str, *, allow_local: bool = False) -> str | None:
    """A host as written: an IP literal is judged as an address; a name by what it says."""
    name = host.strip("[]").lower().removesuffix(".")
    if not name:
        return "has no host"
    address = literal_address(name)
    if address is not None:
        return address_problem(address, allow_local=allow_local)
    if _NUMERIC_LABEL.fullmatch(name.rsplit(".", 1)[-1]):
        # Browsers and resolvers read a host ending in a number as an IPv4 address
        # (WHATWG URL); one that is not a valid one is nothing we could safely post to.
        return "is not a valid address"
    if name == "localhost" or name.endswith(".localhost"):
        return None if allow_local else "names the loopback interface"
    if name in METADATA_NAMES:
        return "names a cloud metadata service"
    if name.endswith(PRIVATE_SUFFIXES):
        return "names a host on a private network"
    if "." not in name:
        # A single label is completed with the resolver's search domains: an internal host.
        return "must be a fully qualified public host name"
    if len(name) > 253 or any(not 1 <= len(label) <= 63 for label in name.split(".")):
        return "is not a valid host name (labels of 1 to 63 characters, 253 in all)"
    return None


def address_problem(address: str | Address, *, allow_local: bool = False) -> str | None:
    """One address the host is, or resolves to: public unicast only (loopback when local)."""
    if isinstance(address, str):
        try:
            address = ipaddress.ip_address(address.split("%", 1)[0])  # a zone id does not change the class
        except ValueError:
            return "is not a valid address"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in NAT64 else None)
        if embedded is not None:  # connecting to it reaches the IPv4 address inside
            return address_problem(embedded, allow_local=allow_local)
    if address in METADATA_ADDRESSES:
        return "is a cloud metadata address"
    if address.is_unspecified or address in THIS_NETWORK:
        return "is an unspecified address (it reaches this host)"
    if address.is_loopback:
        return None if allow_local else "is a loopback address"
    if address.is_link_local:
        return "is a link-local address"
    if address in SHARED:
        return "is a shared (carrier-grade NAT) address"
    if address.is_private:
        return "is a private address"
    if address.is_multicast or address.is_reserved or not address.is_global:
        return "is not a public unicast address"
    return None


def literal_address(host: str) -> Address | None:
    """The address a host names literally, in any spelling a resolver accepts: IPv6, dotted
    quad, and inet_aton's shortened, decimal, octal and hex forms (`2852039166`, `0x7f.1`)."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0] if ":" in host else host)
    except ValueError:
        pass
    labels = host.lower().split(".")
    if not 1 <= len(labels) <= 4 or not all(_IPV4_PART.fullmatch(label) for label in labels):
        return None
    numbers = [int(label[2:] or "0", 16) if label.startswith("0x") else int(label, 8 if label.startswith("0") else 10)
               for label in labels]
    *head, last = numbers
    if any(not 0 <= n <= 255 for n in head) or not 0 <= last < 256 ** (5 - len(numbers)):
        return None
    value = last
    for i, n in enumerate(head):
        value |= n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)
