"""Connection URLs with credentials, built where they can be tested instead of in Jinja.

Credentials are percent-encoded completely (`/`, `@`, `:` and `%` too), so any generated or
site-chosen password survives SQLAlchemy's and kombu's URL parsing.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode


def _userinfo(user, password) -> str:
    user = quote(str(user or ""), safe="")
    if password in (None, ""):
        return f"{user}@" if user else ""
    return f"{user}:{quote(str(password), safe='')}@"


def database_url(scheme: str, user, password, host: str, port, database: str, query=None) -> str:
    """SQLAlchemy URL, e.g. database_url('postgresql+psycopg2', 'airflow', pw, '127.0.0.1', 5432, 'airflow')."""
    url = f"{scheme}://{_userinfo(user, password)}{host}:{int(port)}/{quote(str(database), safe='')}"
    if query:
        url += "?" + urlencode(query)
    return url


def sentinel_broker_url(hosts, port, username, password, db=0) -> str:
    """Celery broker_url for kombu's Sentinel transport: one sentinel:// URL per Sentinel, ';'-joined.

    kombu takes the Redis credentials from the first URL and tries the Sentinels in order.
    """
    hosts = list(hosts)
    if not hosts:
        raise ValueError("sentinel_broker_url needs at least one Sentinel address")
    userinfo = _userinfo(username, password)
    return ";".join(f"sentinel://{userinfo}{host}:{int(port)}/{int(db)}" for host in hosts)


class FilterModule:
    def filters(self):
        return {"database_url": database_url, "sentinel_broker_url": sentinel_broker_url}
