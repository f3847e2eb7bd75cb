"""Single-field rules: what the container engine accepts for names, references and numbers.

Each ``check_*`` function returns the (possibly normalized) value or raises ``ValueError`` with a
readable reason that never repeats an unbounded value; callers wrap it into a problem that names
where the value came from (see :meth:`devarch_core._parsing.Problems.checked`). Every parse
path (template service, instance overrides and so CLI ``--set``, compose import, manifest) calls
the same rule, so a value cannot be refused in one spelling and accepted in another. The rules
are documented in docs/templates.md.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final

from devarch_core._parsing import type_name

__all__ = [
    "MAX_PORT_RANGE",
    "MAX_RESTART_RETRIES",
    "check_domain",
    "check_env_name",
    "check_env_prefix",
    "check_host_ip",
    "check_image",
    "check_instance_ref",
    "check_label_key",
    "check_port_number",
    "check_restart",
    "check_retries",
    "check_stop_signal",
    "check_user",
    "check_working_dir",
    "parse_port_range",
    "shown",
]

#: A value in a message: its repr, cut so a hostile value cannot flood the output.
_SHOWN_MAX: Final = 60


def shown(value: object) -> str:
    """``repr(value)`` cut to a bounded length (messages never echo unbounded input)."""
    if isinstance(value, str | int | float | bool) or value is None:
        text = repr(value[: _SHOWN_MAX + 1] if isinstance(value, str) else value)
    else:
        text = type(value).__name__
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 3] + "..."


def _has_control(text: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)  # noqa: PLR2004 - C0 controls, DEL


# -- environment names ---------------------------------------------------------------------------

#: POSIX names plus ``.`` after the first character: images such as OpenSearch read settings from
#: variables like ``discovery.type``, and the engine passes them through.
ENV_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
#: Names longer than this are refused (no engine needs them; it bounds messages and storage).
MAX_ENV_NAME: Final = 256


def _text(value: object, what: str) -> str:
    """``value`` when it is a string, else a ValueError naming what was expected."""
    if not isinstance(value, str):
        raise ValueError(f"expected {what}, got {type_name(value)}")  # noqa: TRY004 - callers report ValueError
    return value


def _matching(value: object, pattern: re.Pattern[str], what: str, rule: str) -> str:
    """``value`` when it is a string matching ``pattern``: else ``... is not {rule}``."""
    text = _text(value, what)
    if not pattern.fullmatch(text):
        raise ValueError(f"{shown(text)} is not {rule}")
    return text


def check_env_name(name: object, what: str = "environment variable name") -> str:
    """An environment variable name: ``[A-Za-z_][A-Za-z0-9_.]*`` (no ``=``, spaces, controls)."""
    if not isinstance(name, str):
        article = "an" if what[0] in "aeiou" else "a"
        raise ValueError(f"expected {article} {what}, got {type_name(name)}")  # noqa: TRY004 - callers report ValueError
    if len(name) > MAX_ENV_NAME:
        raise ValueError(f"{shown(name)} is not a valid {what}: longer than {MAX_ENV_NAME}")
    if not ENV_NAME.fullmatch(name):
        raise ValueError(
            f"{shown(name)} is not a valid {what} "
            "(letters, digits, '_' and '.', not starting with a digit or '.')"
        )
    return name


#: Longest ``NAME=value`` a Linux process can be started with: the kernel refuses one environment
#: string of 128 KiB or more (``MAX_ARG_STRLEN``, its terminating NUL included) at exec.
MAX_ENV_ENTRY: Final = 128 * 1024


def check_env_value(name: str, value: str) -> str:
    """A value no container could receive is refused: a NUL byte, or ``NAME=value`` over 128 KiB.

    The message never quotes the value (it may be a secret), only its size.
    """
    if "\x00" in value:
        msg = f"the value of {name} holds a NUL byte, which no environment variable can carry"
        raise ValueError(msg)
    size = len(name.encode()) + 1 + len(value.encode("utf-8", "surrogatepass"))
    if size >= MAX_ENV_ENTRY:
        msg = (
            f"{name}=VALUE is {size} bytes; the kernel starts no process with an environment "
            f"variable of {MAX_ENV_ENTRY} bytes (128 KiB) or more"
        )
        raise ValueError(msg)
    return value


def check_env_prefix(prefix: object) -> str:
    """An import prefix: empty, or the start of a valid environment variable name (``CACHE_``)."""
    if prefix == "":
        return ""
    return check_env_name(prefix, "environment variable name prefix")


# -- network ------------------------------------------------------------------------------------


def check_host_ip(value: object) -> str:
    """An IP literal to publish a port on (``127.0.0.1``, ``0.0.0.0``, ``::1``), normalized.

    Host names are refused: every host-port probe would resolve them through DNS.
    """
    value = _text(value, "an IP address")
    text = value.strip().removeprefix("[").removesuffix("]")
    if "%" in text:
        raise ValueError(f"{shown(value)} has an IPv6 zone; use a plain IP address")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(
            f"{shown(value)} is not an IP address (use e.g. 127.0.0.1, 0.0.0.0 or ::1)"
        ) from None


_LABEL: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
MAX_DOMAIN: Final = 253


def check_domain(value: object) -> str:
    """A host name: dot-separated labels of letters, digits and inner ``-``, at most 253 long."""
    value = _text(value, "a domain name")
    if not value or len(value) > MAX_DOMAIN:
        raise ValueError(f"{shown(value)} is not a domain name (1 to {MAX_DOMAIN} characters)")
    if not all(_LABEL.fullmatch(label) for label in value.split(".")):
        raise ValueError(
            f"{shown(value)} is not a domain name (dot-separated labels of letters, digits "
            "and '-', each at most 63 long)"
        )
    return value


_INSTANCE_NAME: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def check_instance_ref(value: object) -> str:
    """An instance named in ``depends_on``: a lowercase DNS label (the rule of instance names)."""
    return _matching(
        value,
        _INSTANCE_NAME,
        "an instance name",
        "an instance name (a lowercase DNS label: a-z, 0-9, '-')",
    )


# -- ports ---------------------------------------------------------------------------------------

MAX_PORT: Final = 65535
#: Compose port ranges (``"8000-8010"``) are expanded into one port each, since devarch allocates
#: a host port per container port; larger ranges are refused before anything is expanded.
MAX_PORT_RANGE: Final = 100
_RANGE: Final = re.compile(r"\s*(\d{1,10})\s*(?:-\s*(\d{1,10})\s*)?")


def check_port_number(value: int, what: str = "port") -> int:
    """A TCP/UDP port number, 1-65535."""
    if not 1 <= value <= MAX_PORT:
        raise ValueError(f"{what} {value} is out of range 1-{MAX_PORT}")
    return value


def parse_port_range(text: str, what: str = "port") -> tuple[int, int]:
    """``"80"`` -> (80, 80); ``"8000-8010"`` -> (8000, 8010); bounds checked, nothing expanded.

    A range of more than :data:`MAX_PORT_RANGE` ports is refused.
    """
    match = _RANGE.fullmatch(text)
    if not match:
        raise ValueError(f"{shown(text)} is not a {what} number or range like 8000-8010")
    low = int(match.group(1))
    high = int(match.group(2)) if match.group(2) is not None else low
    check_port_number(low, what)
    check_port_number(high, what)
    if low > high:
        raise ValueError(f"{what} range {low}-{high} ends before it starts")
    if high - low + 1 > MAX_PORT_RANGE:
        raise ValueError(
            f"{what} range {low}-{high} has {high - low + 1} ports; port ranges of more than "
            f"{MAX_PORT_RANGE} ports are not supported (devarch allocates a host port for each)"
        )
    return low, high


# -- image, user, paths, labels ------------------------------------------------------------------

# The reference grammar of github.com/distribution/reference: [domain[:port]/]path[:tag][@digest]
_ALNUM = r"[a-z0-9]+"
_PATH_COMPONENT = rf"{_ALNUM}(?:(?:[._]|__|-+){_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_REFERENCE: Final = re.compile(rf"(?P<name>{_NAME})(?::{_TAG})?(?:@{_DIGEST})?")
MAX_IMAGE_NAME: Final = 255
_MAX_IMAGE: Final = 1024


def check_image(value: object) -> str:
    """An image reference as the engine parses it: ``[registry[:port]/]repo[:tag][@digest]``.

    The repository path is lowercase; no spaces or control characters.
    """
    value = _text(value, "an image reference")
    if not value:
        raise ValueError("the image reference is empty")
    match = IMAGE_REFERENCE.fullmatch(value) if len(value) <= _MAX_IMAGE else None
    if match is None:
        hint = ""
        if any(c.isspace() for c in value) or _has_control(value):
            hint = ": it has spaces or control characters"
        elif value.lower() != value and IMAGE_REFERENCE.fullmatch(value.lower()):
            hint = ": repository names must be lowercase"
        raise ValueError(
            f"{shown(value)} is not a valid image reference{hint} "
            "(expected [registry/]repository[:tag][@digest], e.g. postgres:16)"
        )
    if len(match.group("name")) > MAX_IMAGE_NAME:
        raise ValueError(f"image name is longer than {MAX_IMAGE_NAME} characters")
    return value


_USER_PART = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,255}"
_USER: Final = re.compile(rf"{_USER_PART}(?::{_USER_PART})?")


def check_user(value: object) -> str:
    """``user``: a name or uid, optionally ``:group`` or ``:gid`` (no spaces or control chars)."""
    return _matching(value, _USER, "a user", "a user (expected NAME, UID, NAME:GROUP or UID:GID)")


MAX_PATH: Final = 4096


def check_working_dir(value: object) -> str:
    """``working_dir``: an absolute path inside the container, without NUL, at most 4096 long."""
    value = _text(value, "a path")
    if "\0" in value:
        raise ValueError("a path cannot contain a NUL character")
    if len(value) > MAX_PATH:
        raise ValueError(f"the path is longer than {MAX_PATH} characters")
    if not value.startswith("/"):
        raise ValueError(f"{shown(value)} must be an absolute path inside the container")
    return value


MAX_LABEL_KEY: Final = 1024


def check_label_key(key: object) -> str:
    """A label key: no whitespace, control characters or ``=``; ``devarch.*`` is reserved."""
    if not isinstance(key, str):
        raise ValueError(f"expected a label key, got {type_name(key)}")  # noqa: TRY004 - callers report ValueError
    if not key or len(key) > MAX_LABEL_KEY:
        raise ValueError(f"a label key has 1 to {MAX_LABEL_KEY} characters")
    if "=" in key or _has_control(key) or any(c.isspace() for c in key):
        raise ValueError(
            f"{shown(key)} is not a valid label key (no '=', spaces or control characters)"
        )
    if key.startswith("devarch."):
        raise ValueError("devarch.* labels are reserved")
    return key


# -- restart policy, healthcheck numbers ---------------------------------------------------------

#: The largest ``on-failure:N`` and healthcheck ``retries`` accepted.
MAX_RESTART_RETRIES: Final = 10_000
RESTART_POLICIES: Final = frozenset({"no", "always", "on-failure", "unless-stopped"})
_RESTART: Final = re.compile(r"(no|always|unless-stopped|on-failure)(?::(\d{1,6}))?")


def check_restart(value: object) -> str:
    """``no``, ``always``, ``unless-stopped`` or ``on-failure[:N]`` (N retries, 0-10000)."""
    value = _text(value, "a restart policy")
    match = _RESTART.fullmatch(value)
    if not match or (match.group(2) is not None and match.group(1) != "on-failure"):
        raise ValueError(
            f"{shown(value)} must be one of no, always, unless-stopped, on-failure[:N]"
        )
    if match.group(2) is not None and int(match.group(2)) > MAX_RESTART_RETRIES:
        raise ValueError(f"on-failure allows at most {MAX_RESTART_RETRIES} retries")
    return value


def check_retries(value: int) -> int:
    """Healthcheck ``retries``: an integer from 0 to 10000."""
    if not 0 <= value <= MAX_RESTART_RETRIES:
        raise ValueError(f"retries {value} is out of range 0-{MAX_RESTART_RETRIES}")
    return value


#: Signal names a container may be stopped with (Linux; ``SIGRTMIN+n`` is not accepted by name).
STOP_SIGNALS: Final = frozenset({
    "SIGABRT", "SIGALRM", "SIGBUS", "SIGCHLD", "SIGCONT", "SIGFPE", "SIGHUP", "SIGILL", "SIGINT",
    "SIGIO", "SIGKILL", "SIGPIPE", "SIGPROF", "SIGPWR", "SIGQUIT", "SIGSEGV", "SIGSTKFLT",
    "SIGSTOP", "SIGSYS", "SIGTERM", "SIGTRAP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG",
    "SIGUSR1", "SIGUSR2", "SIGVTALRM", "SIGWINCH", "SIGXCPU", "SIGXFSZ",
})  # fmt: skip
#: Highest signal number (Linux ``SIGRTMAX``).
MAX_SIGNAL: Final = 64


def check_stop_signal(value: object) -> str:
    """A stop signal: a name such as ``SIGTERM`` (case-insensitive) or a number 1-64.

    Names are normalized to upper case, numbers to their decimal text (``"15"``).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    value = _text(value, "a signal name")
    text = value.strip()
    if text.isdigit():
        if not 1 <= int(text) <= MAX_SIGNAL:
            raise ValueError(f"signal {shown(value)} is out of range 1-{MAX_SIGNAL}")
        return str(int(text))
    name = text.upper()
    if name not in STOP_SIGNALS:
        raise ValueError(
            f"{shown(value)} is not a signal name (use e.g. SIGTERM, SIGINT, SIGQUIT or a number)"
        )
    return name
