"""The value types of the config file: strings that must parse into something precise.

TOML gives us strings for CIDRs, host names, listen addresses and paths. Each is parsed here,
once, into a typed value (an `ipaddress` network, a `TcpListen`, a `Path`), so later layers never
re-parse and never meet a malformed one. Every parser raises `problem(...)` with a message that
already reads well after the key path, e.g. `'10.10.25.0/33' is not a valid CIDR`.

The `Annotated` aliases at the bottom are what the section models in `settings.py` use.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, PlainSerializer, PlainValidator, ValidationInfo

from akod.config.errors import describe_input, did_you_mean, problem

CLUSTER_NAME_MAX = 32  # AKO: "alphanumeric characters or '-'/'_' (max 32 chars)"
_CLUSTER_NAME = re.compile(r"[A-Za-z0-9._-]+")
_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_VERSION = re.compile(r"[0-9]+(\.[0-9]+){1,3}")
_PORT = re.compile(r"[0-9]{1,5}")
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?")


def _expect_str(value: Any) -> str:
    if not isinstance(value, str):
        raise problem(f"expected a string, got {describe_input(value)}")
    return value


# --- names ------------------------------------------------------------------------------------


def parse_non_empty(value: Any) -> str:
    text = _expect_str(value)
    if not text.strip():
        raise problem("must not be empty")
    if text != text.strip():
        raise problem(f"{text!r} has leading or trailing spaces")
    return text


def parse_cluster_name(value: Any) -> str:
    name = _expect_str(value)
    if not name:
        raise problem("must not be empty: it prefixes every Avi object this cluster owns")
    if not _CLUSTER_NAME.fullmatch(name):
        raise problem(f"{name!r} may contain only letters, digits, '-', '_' and '.'")
    if len(name) > CLUSTER_NAME_MAX:
        raise problem(
            f"{name!r} is {len(name)} characters long; at most {CLUSTER_NAME_MAX} allowed"
        )
    return name


def parse_controller_version(value: Any) -> str:
    version = _expect_str(value)
    if version and not _VERSION.fullmatch(version):
        raise problem(
            f"{version!r} is not a controller version: use dotted digits such as '20.1.2', "
            'or "" to ask the controller'
        )
    return version


def is_dns_name(text: str) -> bool:
    labels = text.split(".")
    return len(text) <= 253 and all(_DNS_LABEL.fullmatch(label) for label in labels)


def parse_dns_name_or_empty(value: Any) -> str:
    """A DNS name, lower-cased, without a trailing dot; "" stays "" (meaning: not set)."""
    text = _expect_str(value)
    name = text.lower().removesuffix(".")
    if text and not is_dns_name(name):
        raise problem(
            f"{text!r} is not a DNS name (dot-separated labels of letters, digits and '-')"
        )
    return name


def parse_namespace_name(value: Any) -> str:
    name = _expect_str(value)
    if not (len(name) <= 63 and _DNS_LABEL.fullmatch(name)):
        raise problem(
            f"{name!r} is not a namespace name (lower-case letters, digits and '-', at most 63)"
        )
    return name


def parse_label_key(value: Any) -> str:
    """A Kubernetes label key, `[prefix/]name`; "" means no selector."""
    key = _expect_str(value)
    if not key:
        return key
    prefix, _, name = key.rpartition("/")
    if (prefix and not is_dns_name(prefix)) or not _LABEL_NAME.fullmatch(name):
        raise problem(f"{key!r} is not a Kubernetes label key")
    return key


def parse_label_value(value: Any) -> str:
    text = _expect_str(value)
    if text and not _LABEL_NAME.fullmatch(text):
        raise problem(f"{text!r} is not a Kubernetes label value")
    return text


def choice_validator(
    options: tuple[str, ...], *, unsupported: Mapping[str, str] | None = None
) -> PlainValidator:
    """Exact match of one of `options`, with a did-you-mean hint otherwise; `unsupported` maps
    values AKO accepts but akod does not to the reason (instead of a misleading suggestion)."""
    reasons = dict(unsupported or {})

    def validate(value: Any) -> str:
        text = _expect_str(value)
        if text in options:
            return text
        listed = f"{text!r} is not one of {', '.join(options)}"
        if text in reasons:
            raise problem(f"{listed}: {reasons[text]}")
        raise problem(f"{listed}{did_you_mean(text, options)}")

    return PlainValidator(validate)


# --- networks ---------------------------------------------------------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_cidr(value: Any, *, family: int | None = None) -> Network:
    """A network in CIDR notation with no host bits set; `family` 4 or 6 restricts it."""
    text = _expect_str(value)
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise problem(f"{text!r} is not a valid CIDR") from None
    if "/" not in text:
        raise problem(f"{text!r} is not a valid CIDR (no prefix length, e.g. '{network}')")
    if family is not None and network.version != family:
        raise problem(f"{text!r} is not an IPv{family} CIDR")
    if network.network_address != ipaddress.ip_interface(text).ip:
        raise problem(f"{text!r} has host bits set (did you mean '{network}'?)")
    return network


def _v4_cidr(value: Any) -> ipaddress.IPv4Network:
    network = parse_cidr(value, family=4)
    assert isinstance(network, ipaddress.IPv4Network)
    return network


def _v6_cidr(value: Any) -> ipaddress.IPv6Network | None:
    if value is None or value == "":
        return None
    network = parse_cidr(value, family=6)
    assert isinstance(network, ipaddress.IPv6Network)
    return network


def _any_cidr(value: Any) -> Network:
    return parse_cidr(value)


def _text_or_empty(value: object) -> str:
    return "" if value is None else str(value)


# --- the controller's address -----------------------------------------------------------------


@dataclass(frozen=True)
class ControllerAddress:
    """Where the controller answers; `base_url` is the normalised form every request starts with."""

    scheme: Literal["http", "https"]
    host: str
    port: int | None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        port = f":{self.port}" if self.port is not None and self.port != default else ""
        return f"{self.scheme}://{host}{port}"


def parse_controller_address(value: Any) -> ControllerAddress:
    """'10.10.20.43', 'ctrl.example.com:8443', '[fd00::1]:443', 'https://...', 'http://...'."""
    text = _expect_str(value)
    if not text:
        raise problem("must not be empty: the controller's IP address, host name or URL")
    if "@" in text:
        # Never echo it: the part before '@' may be a password.
        raise problem("must not contain a user name or password; use username and password_file")
    if any(ch.isspace() for ch in text):
        raise problem(f"{text!r} contains spaces")
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        pass
    else:
        return ControllerAddress(scheme="https", host=str(ipaddress.IPv6Address(text)), port=None)

    has_scheme = "://" in text
    parts = urlsplit(text if has_scheme else f"//{text}")
    scheme = parts.scheme.lower() if has_scheme else "https"
    if scheme not in ("http", "https"):
        raise problem(f"{text!r} uses scheme {parts.scheme!r}; use https:// or http://")
    normalised: Literal["http", "https"] = "https" if scheme == "https" else "http"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise problem(f"{text!r} must be only a host, host:port or scheme://host[:port]")
    try:
        port = parts.port
    except ValueError:
        raise problem(f"{text!r} has an invalid port (must be 1..65535)") from None
    if port == 0:
        raise problem(f"{text!r} has an invalid port (must be 1..65535)")
    host = (parts.hostname or "").lower()
    if not host:
        raise problem(f"{text!r} has no host")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not is_dns_name(host):
            raise problem(
                f"{host!r} in {text!r} is neither an IP address nor a host name"
            ) from None
    return ControllerAddress(scheme=normalised, host=host, port=port)


def _controller_host(value: Any) -> str:
    parse_controller_address(value)
    return str(value)


# --- the status endpoint's listen address -----------------------------------------------------


@dataclass(frozen=True)
class TcpListen:
    """`host:port` on a loopback or the any address."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """Where a local client reaches it (the any address is reached through loopback)."""
        address = ipaddress.ip_address(self.host)
        host = self.host
        if address.is_unspecified:
            host = "127.0.0.1" if address.version == 4 else "::1"
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"


@dataclass(frozen=True)
class UnixListen:
    """`unix:/abs/path`: a Unix socket, protected by file permissions."""

    path: Path

    def __str__(self) -> str:
        return f"unix:{self.path}"


ListenAddress = TcpListen | UnixListen


def parse_listen(value: Any) -> ListenAddress:
    if isinstance(value, TcpListen | UnixListen):
        return value
    text = _expect_str(value)
    if text.startswith("unix:"):
        path = text.removeprefix("unix:")
        if not path.startswith("/"):
            raise problem(
                f"{text!r} needs an absolute socket path, e.g. 'unix:/run/akod/status.sock'"
            )
        return UnixListen(path=Path(path))
    example = "use host:port such as '127.0.0.1:8181', or 'unix:/run/akod/status.sock'"
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
    else:
        host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise problem(f"{text!r} is not a listen address: {example}")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise problem(f"{host!r} in {text!r} is not an IP address: {example}") from None
    if not (address.is_loopback or address.is_unspecified):
        raise problem(
            f"{host} in {text!r} is neither a loopback nor the any address "
            "(use 127.0.0.1, ::1, 0.0.0.0 or ::)"
        )
    if not _PORT.fullmatch(port_text) or not 1 <= int(port_text) <= 65535:
        port = port_text if port_text.isascii() and port_text.isdigit() else repr(port_text)
        raise problem(f"port {port} in {text!r} is not in 1..65535")
    return TcpListen(host=str(address), port=int(port_text))


# --- paths ------------------------------------------------------------------------------------


def _resolve(text: str, info: ValidationInfo) -> Path:
    """`~` expanded; a relative path is taken relative to the config file's directory."""
    path = Path(text).expanduser()
    context = info.context or {}
    base = context.get("config_dir") if isinstance(context, dict) else None
    if not path.is_absolute() and isinstance(base, Path):
        path = base / path
    return path


def _optional_path(value: Any, info: ValidationInfo) -> Path | None:
    if value is None or isinstance(value, Path):
        return value
    text = _expect_str(value)
    return _resolve(text, info) if text else None


def _required_path(value: Any, info: ValidationInfo) -> Path:
    if isinstance(value, Path):
        return value
    text = _expect_str(value)
    if not text:
        raise problem("must not be empty")
    return _resolve(text, info)


# --- arrays -----------------------------------------------------------------------------------


def _array_to_tuple(value: Any) -> Any:
    # TOML arrays arrive as lists; settings are frozen, so they are kept as tuples.
    return tuple(value) if isinstance(value, list) else value


# --- the annotated types used by the models ---------------------------------------------------

# Parsed values are shown back as the text a user would write in the file.
_AS_TEXT = PlainSerializer(str, return_type=str, when_used="json")
_AS_TEXT_OR_EMPTY = PlainSerializer(_text_or_empty, return_type=str, when_used="json")

NonEmptyStr = Annotated[str, PlainValidator(parse_non_empty)]
ClusterName = Annotated[str, PlainValidator(parse_cluster_name)]
ControllerHost = Annotated[str, PlainValidator(_controller_host)]
ControllerVersion = Annotated[str, PlainValidator(parse_controller_version)]
DnsNameOrEmpty = Annotated[str, PlainValidator(parse_dns_name_or_empty)]
NamespaceName = Annotated[str, PlainValidator(parse_namespace_name)]
LabelKey = Annotated[str, PlainValidator(parse_label_key)]
LabelValue = Annotated[str, PlainValidator(parse_label_value)]
IPv4Cidr = Annotated[ipaddress.IPv4Network, PlainValidator(_v4_cidr), _AS_TEXT]
OptionalIPv6Cidr = Annotated[
    ipaddress.IPv6Network | None, PlainValidator(_v6_cidr), _AS_TEXT_OR_EMPTY
]
Cidr = Annotated[Network, PlainValidator(_any_cidr), _AS_TEXT]
OptionalPath = Annotated[Path | None, PlainValidator(_optional_path), _AS_TEXT_OR_EMPTY]
RequiredPath = Annotated[Path, PlainValidator(_required_path), _AS_TEXT]
Listen = Annotated[ListenAddress, PlainValidator(parse_listen), _AS_TEXT]
FrozenArray = BeforeValidator(_array_to_tuple)
