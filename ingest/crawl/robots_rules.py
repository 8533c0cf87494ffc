"""robots.txt parsing and matching as RFC 9309 says, built for speed on the crawl's hot path.

- Groups: consecutive ``User-agent`` lines share the rules after them. Our group is the one whose
  product token our agent name starts with (case-insensitive; the longest such token wins), else ``*``.
- Matching: the longest matching ``Allow``/``Disallow`` path wins; on a tie ``Allow`` wins. ``*`` matches
  any run of characters and a final ``$`` anchors the end. ``/robots.txt`` is always allowed.
- ``Crawl-delay`` (not in the RFC, widely used) is read from the chosen group.

Paths are compared in their percent-encoded form with escapes uppercased, as canonical URLs are.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote

_PCT = re.compile(r"%[0-9a-fA-F]{2}")


def _normalize_rule_path(path: str) -> str:
    path = quote(path, safe="/:@!$&'()*+,;=-._~%?")
    return _PCT.sub(lambda m: m.group(0).upper(), path)


@dataclass(frozen=True, slots=True)
class _Rule:
    allow: bool
    length: int  # specificity: the rule path's length, as RFC 9309 compares
    prefix: str | None  # plain prefix rule (no wildcards): startswith is enough
    pattern: re.Pattern[str] | None


@dataclass
class RobotsRules:
    """The rules of one group for one agent. ``can_fetch`` takes the URL path plus query."""

    rules: list[_Rule] = field(default_factory=list)
    crawl_delay: float | None = None

    def can_fetch(self, path: str) -> bool:
        if not self.rules or path == "/robots.txt":
            return True
        best_len = -1
        best_allow = True
        for rule in self.rules:
            if rule.length < best_len or (rule.length == best_len and best_allow):
                continue
            if rule.prefix is not None:
                hit = path.startswith(rule.prefix)
            else:
                assert rule.pattern is not None
                hit = rule.pattern.match(path) is not None
            if hit:
                best_len, best_allow = rule.length, rule.allow
        return best_allow


def _compile(path: str, allow: bool) -> _Rule:
    path = _normalize_rule_path(path)
    if "*" not in path and not path.endswith("$"):
        return _Rule(allow, len(path), path, None)
    anchored = path.endswith("$")
    body = path[:-1] if anchored else path
    regex = ".*".join(re.escape(part) for part in body.split("*")) + ("$" if anchored else "")
    return _Rule(allow, len(path), None, re.compile(regex, re.DOTALL))


def parse_rules(text: str, agent: str) -> RobotsRules:
    """The rules that apply to ``agent`` (its product token, e.g. ``haybale``) in robots.txt ``text``."""
    agent = agent.lower()
    groups: list[tuple[list[str], list[tuple[str, str]]]] = []
    agents: list[str] = []
    lines: list[tuple[str, str]] = []
    last_was_agent = False
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if ":" not in line:
            continue
        key, value = line.split(":", 1)
        key, value = key.strip().lower(), value.strip()
        if key == "user-agent":
            if not last_was_agent and agents:
                groups.append((agents, lines))
                agents, lines = [], []
            agents.append(value.lower())
            last_was_agent = True
        elif key in ("allow", "disallow", "crawl-delay"):
            if agents:
                lines.append((key, value))
            last_was_agent = False
    if agents:
        groups.append((agents, lines))
    chosen: list[tuple[str, str]] | None = None
    best = -1
    star: list[tuple[str, str]] = []
    for names, body in groups:
        for name in names:
            if name == "*":
                star = star + body
            elif agent.startswith(name) and len(name) > best:
                best, chosen = len(name), list(body)
            elif agent.startswith(name) and len(name) == best and chosen is not None:
                chosen += body  # groups for the same agent are merged (RFC 9309 2.2.1)
    body = chosen if chosen is not None else star
    rules = RobotsRules()
    for key, value in body:
        if key == "crawl-delay":
            try:
                rules.crawl_delay = float(value)
            except ValueError:
                pass
        elif value:  # an empty Disallow allows everything; an empty Allow means nothing
            rules.rules.append(_compile(value, key == "allow"))
    rules.rules.sort(key=lambda r: -r.length)
    return rules
