"""Parser for the policy language.

Grammar (lowest precedence first; ``->`` is right-associative, ``since``/``until`` too)::

    formula  := or ( "->" formula )?
    or       := and ( "or" and )*
    and      := binary ( "and" binary )*
    binary   := unary ( ("since" | "S" | "until" | "U") binary )?
    unary    := ("not" | "!") unary
              | ("previously" | "Y" | "once" | "O" | "historically" | "H"
                 | "next" | "X" | "eventually" | "F" | "always" | "G") unary
              | "(" formula ")" | "true" | "false" | atom
    atom     := "user_message" | "assistant_message" | "tool_call" | "tool_result"
              | "untrusted" | "tainted"                          (labels)
              | "tool" "(" STRING ("," STRING)* ")" | "result" "(" [STRING ("," STRING)*] ")"
              | "label" "(" STRING ")"
              | "count" "(" formula ["," DURATION] ")" CMP INT
              | accessor CMP (NUMBER | STRING)
              | accessor ("matches" | "glob" | "contains") STRING
              | accessor ["not"] "in" set | accessor ["not"] "under" set
    accessor := ("arg" | "arg_domain" | "arg_path") "(" STRING ("," STRING)* ")"
              | "args" | "risk" | "content" | "score" "(" NAME | STRING ")"
    set      := "[" [STRING ("," STRING)*] "]" | NAME (a named list or "user_mentioned") | STRING
    DURATION := NUMBER ("ms" | "s" | "m" | "h" | "d")

``#`` starts a comment that runs to the end of the line. Errors raise `PolicySyntaxError` with the
line and column of the offending token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aimds.agents.ltl import ast
from aimds.agents.ltl.atoms import DYNAMIC_SETS, Accessor, CompareAtom, KindAtom, LabelAtom, ToolAtom
from aimds.agents.ltl.errors import PolicySyntaxError

MAX_FORMULA_CHARS = 16_384
MAX_DEPTH = 64
MAX_LIST_ITEMS = 10_000

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\n]+|\#[^\n]*)
  | (?P<duration>\d{1,9}(?:\.\d{1,6})?(?:ms|s|m|h|d)\b)
  | (?P<number>-?\d{1,15}(?:\.\d{1,15})?)
  | (?P<string>"(?:[^"\\\n]|\\.){0,4096}")
  | (?P<op>->|==|!=|<=|>=|<|>|\(|\)|\[|\]|,|!)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]{0,63})
    """,
    re.VERBOSE,
)
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_UNARY = {
    "previously": ast.Previously, "Y": ast.Previously, "once": ast.Once, "O": ast.Once,
    "historically": ast.Historically, "H": ast.Historically, "next": ast.Next, "X": ast.Next,
    "eventually": ast.Eventually, "F": ast.Eventually, "always": ast.Always, "G": ast.Always,
}
_BINARY = {"since": ast.Since, "S": ast.Since, "until": ast.Until, "U": ast.Until}
_KINDS = {"user_message", "assistant_message", "tool_call", "tool_result"}
_LABEL_WORDS = {"untrusted", "tainted"}
_ACCESSORS_WITH_KEYS = {"arg", "arg_domain", "arg_path"}
_CMP = {"==", "!=", "<", "<=", ">", ">="}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    line: int
    column: int


def tokenize(text: str, source: str | None = None) -> list[Token]:
    if len(text) > MAX_FORMULA_CHARS:
        raise PolicySyntaxError(f"formula longer than {MAX_FORMULA_CHARS} characters", 1, 1, source)
    tokens: list[Token] = []
    pos, line, line_start = 0, 1, 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise PolicySyntaxError(f"unexpected character {text[pos]!r}", line, pos - line_start + 1, source)
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, match.group(0), line, pos - line_start + 1))
        newlines = match.group(0).count("\n")
        if newlines:
            line += newlines
            line_start = pos + match.group(0).rfind("\n") + 1
        pos = match.end()
    tokens.append(Token("end", "", line, pos - line_start + 1))
    return tokens


class _Parser:
    def __init__(self, text: str, lists: Mapping[str, Sequence[str]], source: str | None) -> None:
        self.tokens = tokenize(text, source)
        self.pos = 0
        self.lists = lists
        self.source = source
        self.depth = 0
        self.accessors: dict[tuple[str, tuple[str, ...]], Accessor] = {}

    # -- helpers ---------------------------------------------------------------------------------
    @property
    def current(self) -> Token:
        return self.tokens[self.pos]

    def error(self, message: str, token: Token | None = None) -> PolicySyntaxError:
        token = token or self.current
        return PolicySyntaxError(message, token.line, token.column, self.source)

    def take(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def at(self, *texts: str) -> bool:
        token = self.current
        return token.kind in ("op", "name") and token.text in texts

    def expect(self, text: str) -> Token:
        if not self.at(text):
            shown = self.current.text or "end of formula"
            raise self.error(f"expected {text!r} but found {shown!r}")
        return self.take()

    def string(self) -> str:
        token = self.current
        if token.kind != "string":
            raise self.error(f"expected a quoted string but found {token.text or 'end of formula'!r}")
        self.take()
        return re.sub(r"\\([\"\\])", r"\1", token.text[1:-1])

    def strings(self, allow_empty: bool = False) -> tuple[str, ...]:
        items: list[str] = []
        if allow_empty and self.at(")", "]"):
            return ()
        items.append(self.string())
        while self.at(","):
            self.take()
            items.append(self.string())
            if len(items) > MAX_LIST_ITEMS:
                raise self.error("list too long")
        return tuple(items)

    # -- grammar ---------------------------------------------------------------------------------
    def parse(self) -> ast.Formula:
        if self.current.kind == "end":
            raise self.error("empty formula")
        node = self.formula()
        if self.current.kind != "end":
            raise self.error(f"unexpected {self.current.text!r} after a complete formula")
        return node

    def formula(self) -> ast.Formula:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"formula nests deeper than {MAX_DEPTH} levels")
        left = self.disjunction()
        if self.at("->"):
            self.take()
            left = ast.Implies(left, self.formula())
        self.depth -= 1
        return left

    def disjunction(self) -> ast.Formula:
        node = self.conjunction()
        while self.at("or"):
            self.take()
            node = ast.Or(node, self.conjunction())
        return node

    def conjunction(self) -> ast.Formula:
        node = self.binary()
        while self.at("and"):
            self.take()
            node = ast.And(node, self.binary())
        return node

    def binary(self) -> ast.Formula:
        node = self.unary()
        if self.current.kind == "name" and self.current.text in _BINARY:
            op = _BINARY[self.take().text]
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error(f"formula nests deeper than {MAX_DEPTH} levels")
            node = op(node, self.binary())
            self.depth -= 1
        return node

    def unary(self) -> ast.Formula:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"formula nests deeper than {MAX_DEPTH} levels")
        token = self.current
        if self.at("not", "!"):
            self.take()
            node: ast.Formula = ast.Not(self.unary())
        elif token.kind == "name" and token.text in _UNARY:
            self.take()
            node = _UNARY[token.text](self.unary())
        else:
            node = self.primary()
        self.depth -= 1
        return node

    def primary(self) -> ast.Formula:
        token = self.current
        if self.at("("):
            self.take()
            node = self.formula()
            self.expect(")")
            return node
        if token.kind != "name":
            raise self.error(f"expected a formula but found {token.text or 'end of formula'!r}")
        word = token.text
        if word in ("true", "false"):
            self.take()
            return ast.Const(word == "true")
        if word in _KINDS:
            self.take()
            return ast.AtomNode(KindAtom(word))
        if word in _LABEL_WORDS:
            self.take()
            return ast.AtomNode(LabelAtom(word))
        if word in ("tool", "result"):
            self.take()
            self.expect("(")
            names = self.strings(allow_empty=word == "result")
            self.expect(")")
            return ast.AtomNode(ToolAtom("tool_call" if word == "tool" else "tool_result", names))
        if word == "label":
            self.take()
            self.expect("(")
            label = self.string()
            self.expect(")")
            return ast.AtomNode(LabelAtom(label))
        if word == "count":
            return self.count()
        if word in _ACCESSORS_WITH_KEYS or word in ("args", "risk", "content", "score"):
            return self.comparison()
        raise self.error(f"unknown name {word!r}")

    def count(self) -> ast.Formula:
        self.take()
        self.expect("(")
        child = self.formula()
        window = None
        if self.at(","):
            self.take()
            token = self.current
            if token.kind != "duration":
                raise self.error("expected a duration such as 30s, 10m or 1h")
            self.take()
            unit = "ms" if token.text.endswith("ms") else token.text[-1]
            window = float(token.text[: -len(unit)]) * _UNITS[unit]
            if window <= 0:
                raise self.error("the window must be positive", token)
        self.expect(")")
        if not (self.current.kind == "op" and self.current.text in _CMP):
            raise self.error("count(...) must be compared with a number, e.g. count(tool(\"pay\")) > 3")
        op = self.take().text
        token = self.current
        if token.kind != "number" or not token.text.lstrip("-").isdigit() or int(token.text) < 0:
            raise self.error("count(...) is compared with a non-negative whole number")
        self.take()
        bound = int(token.text)
        if bound > 100_000:
            raise self.error("count bound above 100000", token)
        return ast.Count(child, window, op, bound)

    def comparison(self) -> ast.Formula:
        name = self.take().text
        keys: tuple[str, ...] = ()
        if name in _ACCESSORS_WITH_KEYS:
            self.expect("(")
            keys = self.strings()
            self.expect(")")
        elif name == "score":
            self.expect("(")
            token = self.current
            if token.kind == "name":
                keys = (self.take().text,)
            else:
                keys = (self.string(),)
            self.expect(")")
        accessor = self.accessors.setdefault((name, keys), Accessor(name, keys))
        op_token = self.current
        if op_token.kind == "op" and op_token.text in _CMP:
            op = self.take().text
            value = self.current
            if value.kind == "number":
                self.take()
                return ast.AtomNode(CompareAtom(accessor, op, float(value.text)))
            if value.kind == "string" and op in ("==", "!="):
                return ast.AtomNode(CompareAtom(accessor, op, self.string()))
            raise self.error("expected a number (or a string for == and !=)")
        if self.at("matches", "glob", "contains"):
            op = self.take().text
            pattern_token = self.current
            pattern = self.string()
            try:
                return ast.AtomNode(CompareAtom(accessor, op, pattern))
            except Exception as exc:  # invalid or unsafe regex: report it where it is written
                raise self.error(str(exc), pattern_token) from None
        negated = False
        if self.at("not"):
            self.take()
            negated = True
        if self.at("in", "under"):
            op = self.take().text
            members, dynamic = self.set_operand(op)
            return ast.AtomNode(CompareAtom(accessor, f"not {op}" if negated else op, members, dynamic))
        raise self.error(f"expected a comparison after {accessor.key} (==, <, matches, glob, contains, in, under)")

    def set_operand(self, op: str) -> tuple[tuple[str, ...], str | None]:
        token = self.current
        if self.at("["):
            self.take()
            items = self.strings(allow_empty=True)
            self.expect("]")
            return items, None
        if token.kind == "string":
            return (self.string(),), None
        if token.kind == "name":
            self.take()
            if token.text in DYNAMIC_SETS:
                if op != "in":
                    raise self.error(f"{token.text!r} can only be used with in / not in", token)
                return (), token.text
            if token.text not in self.lists:
                known = ", ".join(sorted(self.lists)) or "none defined"
                raise self.error(f"unknown list {token.text!r} (known: {known})", token)
            return tuple(str(item) for item in self.lists[token.text]), None
        raise self.error("expected a list: [\"a\", \"b\"], a list name, or a string")


def parse(text: str, lists: Mapping[str, Sequence[str]] | None = None, source: str | None = None) -> ast.Formula:
    """Parse a formula; named lists are resolved now so an unknown one is reported where it is used."""
    return _Parser(text, lists or {}, source).parse()
