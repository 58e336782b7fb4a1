"""The server's version and deprecation headers (kash-today §2), parsed once per response.

Kash answers every request with ``X-API-Version`` (its canonical version, whatever we pin) and,
when a version or route is going away, ``Deprecation``, ``Sunset`` and ``Link: <…>; rel="sunset"``.
The transport keeps the first notice it sees and logs it once per client (one warning per run,
not one per request); ``KashClient.deprecation`` and ``deprecation_notices`` feed the metrics.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_SUNSET_LINK_RE = re.compile(r"<([^>]*)>\s*;[^,]*\brel\s*=\s*\"?sunset\"?", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class DeprecationNotice:
    """What the server said about our pin going away (any field may be missing)."""

    pinned: str | None  # the X-Kash-Api-Version we sent
    server_version: str | None  # X-API-Version: the server's canonical version
    deprecation: str | None  # the raw Deprecation header ("true", a date, or "@<epoch>")
    sunset: str | None  # the raw Sunset header (an HTTP date)
    link: str | None  # the rel="sunset" link target, if any
    route: str

    def message(self) -> str:
        """One operator line naming the pin, the server's version and the sunset."""
        parts = [f"kash API version {self.pinned or '(server default)'} is deprecated"]
        if self.sunset:
            parts.append(f"sunset {self.sunset}")
        if self.server_version:
            parts.append(f"server version {self.server_version}")
        if self.link:
            parts.append(f"see {self.link}")
        parts.append(f"first seen on {self.route}; move api_version to a supported date")
        return "; ".join(parts)


def sunset_link(link_header: str | None) -> str | None:
    """The target of the ``rel="sunset"`` entry of a ``Link`` header, if there is one."""
    if not link_header:
        return None
    found = _SUNSET_LINK_RE.search(link_header)
    return found.group(1) if found else None


def notice_from_headers(
    headers: Mapping[str, str], *, pinned: str | None, route: str
) -> DeprecationNotice | None:
    """A notice when the response carries ``Deprecation``, ``Sunset`` or a sunset link."""
    deprecation = headers.get("Deprecation") or None
    if deprecation is not None and deprecation.strip().lower() == "false":
        deprecation = None
    sunset = headers.get("Sunset") or None
    link = sunset_link(headers.get("Link"))
    if deprecation is None and sunset is None and link is None:
        return None
    return DeprecationNotice(
        pinned=pinned,
        server_version=headers.get("X-API-Version") or headers.get("X-Kash-Api-Version"),
        deprecation=deprecation,
        sunset=sunset,
        link=link,
        route=route,
    )
