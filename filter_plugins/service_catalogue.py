"""The service catalogue (roles/cluster/defaults/main.yml, `cluster_services`) as roles read it.

Every listener of the cluster is declared once there; these filters answer the questions a role
asks of it: which hosts run a service, at which addresses, where it binds, and what is wrong with
the catalogue itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

REQUIRED_KEYS = ("component", "group", "port", "bind", "clients", "protocol")
BINDS = {"cluster", "loopback", "any"}
BIND_ADDRESSES = {"loopback": "127.0.0.1", "any": "0.0.0.0"}


def _entry(services: Mapping, name: str) -> Mapping:
    try:
        return services[name]
    except KeyError:
        raise KeyError(f"the service catalogue (cluster_services) has no entry '{name}'") from None


def cluster_catalogue_problems(services) -> list[str]:
    """Every problem with the catalogue, as 'what is wrong, how to fix it' sentences."""
    if not isinstance(services, Mapping):
        return [f"cluster_services must be a mapping of service name to entry, got {type(services).__name__}."]
    problems = []
    by_group_port = defaultdict(list)
    for name, entry in sorted(services.items()):
        if not isinstance(entry, Mapping):
            problems.append(f"cluster_services.{name} must be a mapping with {', '.join(REQUIRED_KEYS)}.")
            continue
        missing = [key for key in REQUIRED_KEYS if key not in entry]
        if missing:
            problems.append(f"cluster_services.{name} lacks {', '.join(missing)}: set them in cluster_service_overrides.")
            continue
        try:
            port = int(entry["port"])
        except (TypeError, ValueError):
            port = -1
        if isinstance(entry["port"], bool) or not 1 <= port <= 65535:
            problems.append(f"cluster_services.{name}.port is {entry['port']!r}: use a TCP port number from 1 to 65535.")
        if entry["bind"] not in BINDS:
            problems.append(
                f"cluster_services.{name}.bind is {entry['bind']!r}: use one of {', '.join(sorted(BINDS))}."
            )
        if not isinstance(entry["clients"], list) or not all(isinstance(c, str) for c in entry["clients"]):
            problems.append(f"cluster_services.{name}.clients must be a list of inventory group names.")
        by_group_port[(entry["group"], port)].append(name)
    for (group, port), names in sorted(by_group_port.items()):
        if len(names) > 1 and port > 0:
            problems.append(
                f"cluster_services {', '.join(names)} all listen on port {port} on the hosts of group '{group}': "
                f"give each its own port in cluster_service_overrides."
            )
    return problems


def cluster_port(services, name: str) -> int:
    """The port of one catalogue entry."""
    return int(_entry(services, name)["port"])


def cluster_group(services, name: str) -> str:
    """The inventory group whose hosts run one catalogue entry."""
    return _entry(services, name)["group"]


def cluster_hosts(services, name: str, groups: Mapping) -> list[str]:
    """Inventory hosts that run a service, in inventory order."""
    return list(groups.get(cluster_group(services, name), []))


def cluster_addresses(services, name: str, groups: Mapping, hostvars: Mapping) -> list[str]:
    """The cluster_address of every host that runs a service."""
    return [hostvars[host]["cluster_address"] for host in cluster_hosts(services, name, groups)]


def cluster_endpoints(services, name: str, groups: Mapping, hostvars: Mapping) -> list[str]:
    """address:port of every host that runs a service."""
    port = cluster_port(services, name)
    return [f"{address}:{port}" for address in cluster_addresses(services, name, groups, hostvars)]


def cluster_bind(services, name: str, cluster_address: str) -> str:
    """The address a service listens on, on a host whose own address is cluster_address."""
    bind = _entry(services, name)["bind"]
    return cluster_address if bind == "cluster" else BIND_ADDRESSES[bind]


def cluster_connect_address(services, name: str) -> str:
    """Where a client on the same host reaches a host-local (loopback) service."""
    bind = _entry(services, name)["bind"]
    if bind != "loopback":
        raise ValueError(f"cluster_services.{name} is not a host-local service (bind is {bind!r})")
    return BIND_ADDRESSES["loopback"]


def cluster_listeners(services, host_groups) -> dict:
    """The catalogue entries a host with these groups runs (name -> entry): its open ports."""
    host_groups = set(host_groups)
    return {name: dict(entry) for name, entry in services.items() if entry["group"] in host_groups}


class FilterModule:
    def filters(self):
        return {
            "cluster_catalogue_problems": cluster_catalogue_problems,
            "cluster_port": cluster_port,
            "cluster_group": cluster_group,
            "cluster_hosts": cluster_hosts,
            "cluster_addresses": cluster_addresses,
            "cluster_endpoints": cluster_endpoints,
            "cluster_bind": cluster_bind,
            "cluster_connect_address": cluster_connect_address,
            "cluster_listeners": cluster_listeners,
        }
