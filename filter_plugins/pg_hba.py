"""Read a pg_hba.conf (PostgreSQL's or PgBouncer's) the way the server does, for preflight checks.

`pg_hba_admits(text, address)` answers whether a TCP client at `address` connecting to any database
as any user would get past the hba file: the first `host*` line whose address matches decides,
and `reject` (or no matching line) means refused. Lines naming particular databases or users, and
host names instead of addresses, are skipped: the project's files use `all`/`all` and addresses.
"""

from __future__ import annotations

import ipaddress


def _rule(fields: list[str]):
    """(network or None for `all`, method) of a `host*` line's address part, or None to skip it."""
    address, rest = fields[3], fields[4:]
    if address == "all":
        return None, rest[0]
    try:
        if "/" in address:
            return ipaddress.ip_network(address, strict=False), rest[0]
        # The older two-field form: address, then netmask.
        return ipaddress.ip_network(f"{address}/{rest[0]}", strict=False), rest[1]
    except (ValueError, IndexError):
        return False  # a host name or domain: not how the project writes hba files


def pg_hba_admits(text: str, address: str) -> bool:
    client = ipaddress.ip_address(address)
    for raw in text.splitlines():
        fields = raw.split("#", 1)[0].split()
        if len(fields) < 5 or not fields[0].startswith("host") or fields[1:3] != ["all", "all"]:
            continue
        rule = _rule(fields)
        if not rule:
            continue
        network, method = rule
        if network is None or (client.version == network.version and client in network):
            return method != "reject"
    return False


def pg_hba_refused(texts: list[str], addresses: dict[str, str]) -> list[str]:
    """Hosts (of a host -> address mapping) that at least one of the hba files would refuse."""
    return sorted(host for host, address in addresses.items() if not all(pg_hba_admits(t, address) for t in texts))


class FilterModule:
    def filters(self):
        return {"pg_hba_admits": pg_hba_admits, "pg_hba_refused": pg_hba_refused}
