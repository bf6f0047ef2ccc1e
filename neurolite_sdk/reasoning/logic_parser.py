"""Text syntax of facts and rule literals: ``p(a, "new york")``, ``NOT q(?x)``.

Grammar (whitespace is free between tokens)::

    literal   := ["NOT" | "not"] atom          (the keyword must be followed by whitespace)
    atom      := predicate [ "(" [term ("," term)*] ")" ]
    predicate := letter or "_", then letters, digits, "_"
    term      := variable | constant
    variable  := "?" then letters, digits, "_"
    constant  := bare | quoted
    bare      := one or more of letters, digits, "_", ".", "-", "+"
    quoted    := '"' characters, with \\" and \\\\ as the only escapes, '"'

Constants are strings: ``p(a)`` and ``p("a")`` are the same fact, and so are ``p(a,b)`` and
``p(a, b)``. A fact is parsed into the tuple ``Fact(predicate, args)``; ``str(fact)`` writes the
canonical text back (quoting only where needed), so that ``parse_fact(str(f)) == f``. Every parse
failure is a ``RuleError`` naming the text and the column.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from neurolite_sdk.reasoning.errors import RuleError

_PREDICATE = re.compile(r"[^\W\d]\w*")
_VARIABLE = re.compile(r"\?(\w+)")
_BARE = re.compile(r"[\w.+\-]+")
_NEGATION = re.compile(r"(?:NOT|not)\s+")


class Variable(NamedTuple):
    """A logic variable, written ``?name``; bound by the positive premises of a rule."""

    name: str

    def __str__(self) -> str:
        return f"?{self.name}"


Term = str | Variable
"""A constant (any string) or a ``Variable``."""


def render_constant(value: str) -> str:
    """The constant as it is written in rule text: bare if the grammar allows, else quoted."""
    if _BARE.fullmatch(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _render_atom(predicate: str, terms: tuple[Term, ...]) -> str:
    if not terms:
        return predicate
    rendered = (str(t) if isinstance(t, Variable) else render_constant(t) for t in terms)
    return f"{predicate}({', '.join(rendered)})"


class Fact(NamedTuple):
    """A ground atom: a predicate and a tuple of constant arguments. Hashable, ordered, canonical."""

    predicate: str
    args: tuple[str, ...]

    def __str__(self) -> str:
        return _render_atom(self.predicate, self.args)


class Atom(NamedTuple):
    """A predicate applied to terms, some of which may be variables."""

    predicate: str
    terms: tuple[Term, ...]

    def variables(self) -> set[Variable]:
        return {t for t in self.terms if isinstance(t, Variable)}

    def __str__(self) -> str:
        return _render_atom(self.predicate, self.terms)


class Literal(NamedTuple):
    """A rule premise: an atom that must hold, or (``negated``) must not be derivable."""

    atom: Atom
    negated: bool

    def __str__(self) -> str:
        return f"NOT {self.atom}" if self.negated else str(self.atom)


class _Scanner:
    """A cursor over one text; every method either consumes a token or raises ``RuleError``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, expected: str) -> RuleError:
        found = repr(self.text[self.pos]) if self.pos < len(self.text) else "end of text"
        return RuleError(f"cannot parse {self.text!r}: expected {expected} at column {self.pos + 1}, "
                         f"found {found}")

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self, char: str) -> bool:
        self.skip_space()
        return self.text.startswith(char, self.pos)

    def expect(self, char: str) -> None:
        if not self.peek(char):
            raise self.fail(repr(char))
        self.pos += len(char)

    def match(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        self.skip_space()
        found = pattern.match(self.text, self.pos)
        if found:
            self.pos = found.end()
        return found

    def at_end(self) -> bool:
        self.skip_space()
        return self.pos == len(self.text)

    def quoted(self) -> str:
        self.expect('"')
        chars: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == '"':
                self.pos += 1
                return "".join(chars)
            if char == "\\":
                escaped = self.text[self.pos + 1: self.pos + 2]
                if escaped not in ('"', "\\"):
                    self.pos += 1
                    raise self.fail('\\" or \\\\ after a backslash')
                chars.append(escaped)
                self.pos += 2
                continue
            chars.append(char)
            self.pos += 1
        raise self.fail('a closing \'"\'')

    def term(self) -> Term:
        if self.peek('"'):
            return self.quoted()
        variable = self.match(_VARIABLE)
        if variable:
            return Variable(variable.group(1))
        if self.peek("?"):
            self.pos += 1
            raise self.fail("a variable name after '?'")
        bare = self.match(_BARE)
        if bare:
            return bare.group(0)
        raise self.fail("a constant or a ?variable")

    def atom(self) -> Atom:
        name = self.match(_PREDICATE)
        if not name:
            raise self.fail("a predicate name")
        terms: list[Term] = []
        if self.peek("("):
            self.pos += 1
            if not self.peek(")"):
                terms.append(self.term())
                while self.peek(","):
                    self.pos += 1
                    terms.append(self.term())
            self.expect(")")
        return Atom(name.group(0), tuple(terms))

    def end(self) -> None:
        if not self.at_end():
            raise self.fail("end of text")


def _check_text(text: object) -> str:
    if not isinstance(text, str):
        raise RuleError(f"expected a string, got {type(text).__name__} {text!r}")
    return text


def parse_literal(text: str) -> Literal:
    """Parse a rule premise such as ``p(?x, a)`` or ``NOT q(?x)``."""
    scanner = _Scanner(_check_text(text))
    negated = scanner.match(_NEGATION) is not None
    atom = scanner.atom()
    scanner.end()
    return Literal(atom, negated)


def parse_atom(text: str) -> Atom:
    """Parse an atom that may hold variables (a rule conclusion, or a pattern to search for)."""
    scanner = _Scanner(_check_text(text))
    atom = scanner.atom()
    scanner.end()
    return atom


def parse_fact(text: str) -> Fact:
    """Parse a ground atom such as ``city("new york")``; a variable in it is a ``RuleError``."""
    atom = parse_atom(text)
    variables = atom.variables()
    if variables:
        names = ", ".join(sorted(map(str, variables)))
        raise RuleError(f"fact {text!r} is not ground: it has variable(s) {names}")
    return Fact(atom.predicate, tuple(str(t) for t in atom.terms))


def as_fact(fact: str | Fact | tuple[str, tuple[str, ...]]) -> Fact:
    """Accept a fact as text or as a ``(predicate, args)`` tuple; check it is well formed."""
    if isinstance(fact, str):
        return parse_fact(fact)
    if (isinstance(fact, tuple) and len(fact) == 2 and isinstance(fact[0], str) and isinstance(fact[1], tuple)
            and all(isinstance(a, str) for a in fact[1])):
        if not _PREDICATE.fullmatch(fact[0]):
            raise RuleError(f"fact {fact!r}: {fact[0]!r} is not a valid predicate name")
        return Fact(fact[0], fact[1])
    raise RuleError(f"a fact is text such as 'p(a, b)' or a (predicate, (args, ...)) tuple, got {fact!r}")
