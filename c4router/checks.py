"""c4router's own deployment checks: `manage.py check --deploy`.

c4router/settings.py refuses at start-up what is certainly wrong in production (DEBUG, no
or a short SECRET_KEY, no ALLOWED_HOSTS). What is accepted but risky is reported here, as
Django reports its own deployment settings (security.W0xx): one function per setting,
registered with the deploy tag, so that a dev machine on the loopback is not nagged.
Registered by routing.apps.RoutingConfig.ready().
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, register
from django.core.checks import Warning as CheckWarning

# A shared API token shorter than this is short: the router instances' own tokens are 43
# characters (secrets.token_urlsafe(32)), the configured one should not be the weak link.
MIN_API_TOKEN_LENGTH = 32
# Fewer different characters than this in a long secret: typed, not generated. (A random
# hexadecimal token of 32 characters uses 14 of its 16 on average, and fewer than 8 with a
# chance of about one in 25 million.)
MIN_DISTINCT_CHARACTERS = 8
# Values that are public because this repository publishes them: the compose lab's
# (docker/lab/c4router.env) and the one the image's build step collects static files with
# (Dockerfile). Copied into a real deployment, they are known to anyone.
PUBLISHED_SECRETS = frozenset(
    {
        "lab-only-NOT-SECRET-c4router-compose-lab-key-0123456789abcdefghijklmnop",
        "collectstatic-only-not-a-real-secret-key-0123456789abcdefghij",
        "lab-only-api-token-0123456789",
    }
)
# An allow-list network at least this large, unless private, lets in a large part of the
# Internet: a /8 is 16 million IPv4 addresses; ::/0 and 2000::/3 (all unicast) are past it.
BROAD_PREFIX = {4: 8, 6: 16}


def secret_weakness(secret: str, min_length: int) -> str | None:
    """Why a secret is easy to guess (a phrase to follow "it ..."), or None."""
    if secret in PUBLISHED_SECRETS:
        return "is published in c4router's repository (docker/lab/, Dockerfile)"
    if len(secret) < min_length:
        return f"has {len(secret)} characters, fewer than {min_length}"
    distinct = len(set(secret))
    if distinct < MIN_DISTINCT_CHARACTERS:
        return f"uses only {distinct} different characters"
    if secret in (secret + secret)[1:-1]:  # a shorter string repeated: "abcde" * 10
        return "repeats a shorter string"
    return None


def _generate(command: str) -> str:
    return f"Generate one: python3 -c 'import secrets; print(secrets.{command})'."


@register(Tags.security, deploy=True)
def check_api_token(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    token = settings.C4ROUTER["API_TOKEN"]
    weakness = secret_weakness(token, MIN_API_TOKEN_LENGTH) if token else None
    if weakness is None:
        return []
    return [
        CheckWarning(
            f"C4ROUTER_API_TOKEN {weakness}: whoever guesses it may query routes (from an "
            "allowed network), and learn the carriers and numbers of every customer.",
            hint=_generate("token_urlsafe(32)")
            + " Or leave it empty: each router instance has its own token.",
            id="c4router.W001",
        )
    ]


def _broad_networks(setting: str) -> list[str]:
    broad = []
    for network in settings.C4ROUTER[setting]:  # ip_network objects (c4router.env)
        if network.prefixlen <= BROAD_PREFIX[network.version] and not network.is_private:
            broad.append(str(network))
    return broad


@register(Tags.security, deploy=True)
def check_api_allowed_nets(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    broad = _broad_networks("API_ALLOWED_NETS")
    if not broad:
        return []
    return [
        CheckWarning(
            f"C4ROUTER_API_ALLOWED_NETS holds {', '.join(broad)}: a large part of the Internet "
            "may query routes, with only the token between them and every customer's routing.",
            hint="List the Kamailio hosts' networks only (or the load balancer's in front).",
            id="c4router.W002",
        )
    ]


@register(Tags.security, deploy=True)
def check_metrics_allowed_nets(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    broad = _broad_networks("METRICS_ALLOWED_NETS")
    if not broad:
        return []
    return [
        CheckWarning(
            f"C4ROUTER_METRICS_ALLOWED_NETS holds {', '.join(broad)}: a large part of the "
            "Internet may read /metrics and /readyz's details (the database's errors, with its "
            "host, port and role).",
            hint="List the Prometheus servers' and monitors' networks only.",
            id="c4router.W003",
        )
    ]


@register(Tags.security, deploy=True)
def check_allowed_hosts(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if "*" not in settings.ALLOWED_HOSTS:
        return []
    return [
        CheckWarning(
            "ALLOWED_HOSTS holds '*': c4router answers to any Host header, so links it builds "
            "(the API's URLs, redirects) can point wherever a client says.",
            hint="List the host names c4router is reached by (ALLOWED_HOSTS=c4router.example).",
            id="c4router.W004",
        )
    ]


@register(Tags.security, deploy=True)
def check_secret_key(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    key = settings.SECRET_KEY
    if len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure-"):
        return []  # Django's own security.W009 says so (and production refuses to start)
    weakness = secret_weakness(key, 50)
    if weakness is None:
        return []
    return [
        CheckWarning(
            f"SECRET_KEY {weakness}: whoever knows it can forge what Django signs with it "
            "(signed cookies, password reset and session verification hashes).",
            hint=_generate("token_urlsafe(50)"),
            id="c4router.W005",
        )
    ]


@register(Tags.security, deploy=True)
def check_api_token_required(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """C4ROUTER_API_TOKEN_REQUIRED=0 is an operator's choice, but one to see at deploy time:
    every host of C4ROUTER_API_ALLOWED_NETS may then ask for routes without a token."""
    if settings.C4ROUTER["API_TOKEN_REQUIRED"]:
        return []
    networks = ", ".join(str(net) for net in settings.C4ROUTER["API_ALLOWED_NETS"])
    return [
        CheckWarning(
            "C4ROUTER_API_TOKEN_REQUIRED is off: any host in C4ROUTER_API_ALLOWED_NETS "
            f"({networks}) may query /kamailio/rtjson without a token.",
            hint=(
                "Set C4ROUTER_API_TOKEN_REQUIRED=1 and have each Kamailio send its router "
                "instance's token (X-C4-Token), unless those networks hold nothing but your "
                "Kamailio hosts."
            ),
            id="c4router.W006",
        )
    ]
