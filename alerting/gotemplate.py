"""Go template syntax, checked the way Prometheus checks alert labels and annotations.

Prometheus expands every label and annotation of an alerting rule as a Go ``text/template``
with its own functions, and ``promtool check rules`` refuses a rules file where one does not
parse. No maintained Python package parses Go templates, so this module ports the part of Go's
``text/template/parse`` (lexer and parser, Go 1.19 as in Debian's Prometheus 2.42) that decides
whether a text parses: actions, pipelines, variables and their scopes, function names,
literals, comments, trim markers, and the if/range/with/else/end, define, block, template,
break and continue structure. It only checks; it never executes a template.

Like Prometheus (rulefmt's ``testTemplateParsing``), the text is parsed after the definitions
of ``$labels``, ``$externalLabels``, ``$externalURL`` and ``$value``, as a template named
``__alert_<alert name>``. Tests compare every verdict with promtool's.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Go's text/template builtins and the functions Prometheus 2.42 adds (template/template.go).
GO_BUILTINS = frozenset(
    [
        "and",
        "call",
        "html",
        "index",
        "slice",
        "js",
        "len",
        "not",
        "or",
        "print",
        "printf",
        "println",
        "urlquery",
        "eq",
        "ge",
        "gt",
        "le",
        "lt",
        "ne",
    ]
)
PROMETHEUS_FUNCTIONS = frozenset(
    [
        "query",
        "first",
        "label",
        "value",
        "strvalue",
        "args",
        "reReplaceAll",
        "safeHtml",
        "match",
        "title",
        "toUpper",
        "toLower",
        "graphLink",
        "tableLink",
        "sortByLabel",
        "humanize",
        "humanize1024",
        "humanizeDuration",
        "humanizePercentage",
        "humanizeTimestamp",
        "toTime",
        "pathPrefix",
        "externalURL",
        "parseDuration",
        "stripPort",
        "stripDomain",
    ]
)
FUNCTIONS = GO_BUILTINS | PROMETHEUS_FUNCTIONS
# What rulefmt puts before every label and annotation when it checks them.
PROMETHEUS_PRELUDE = (
    "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}"
    "{{$externalURL := .ExternalURL}}{{$value := .Value}}"
)

_KEYWORDS = {
    "block",
    "break",
    "continue",
    "define",
    "else",
    "end",
    "if",
    "range",
    "nil",
    "template",
    "with",
}
_SPACE = " \t\r\n"
_EOF = ""


class TemplateError(Exception):
    """A template that Go's parser refuses; the message reads like Go's."""


@dataclass(frozen=True)
class _Item:
    kind: str  # text, left, right, space, comment, and the token kinds of an action
    value: str


# --- lexer (text/template/parse/lex.go) ---------------------------------------------------


def _is_alnum(char: str) -> bool:
    return (
        char == "_"
        or (char != _EOF and unicodedata.category(char)[0] == "L")
        or (char != _EOF and unicodedata.category(char) == "Nd")
    )


def _rune(char: str) -> str:
    return f"U+{ord(char):04X} {_quote(char)}"


def _quote(text: str) -> str:
    """``text`` in double quotes, as Go's %q shows it."""
    return json.dumps(text, ensure_ascii=False)


class _Lexer:
    """Go's lexer, run to completion: a list of items, or TemplateError at the first error."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.start = 0
        self.items: list[_Item] = []
        self.paren_depth = 0

    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else _EOF

    def next(self) -> str:
        char = self.peek()
        if char != _EOF:
            self.pos += 1
        return char

    def backup(self) -> None:
        self.pos -= 1

    def emit(self, kind: str) -> None:
        self.items.append(_Item(kind, self.text[self.start : self.pos]))
        self.start = self.pos

    def ignore(self) -> None:
        self.start = self.pos

    def accept(self, chars: str) -> bool:
        if self.peek() != _EOF and self.peek() in chars:
            self.pos += 1
            return True
        return False

    def accept_run(self, chars: str) -> None:
        while self.peek() != _EOF and self.peek() in chars:
            self.pos += 1

    def at_right_delim(self) -> tuple[bool, bool]:
        rest = self.text[self.pos :]
        if len(rest) >= 2 and rest[0] in _SPACE and rest[1] == "-" and rest[2:4] == "}}":
            return True, True
        return rest.startswith("}}"), False

    def at_terminator(self) -> bool:
        char = self.peek()
        return char == _EOF or char in _SPACE or char in ".,|:)(}"

    def run(self) -> list[_Item]:
        state = self.lex_text
        while state is not None:
            state = state()
        return self.items

    def lex_text(self):
        found = self.text.find("{{", self.pos)
        if found < 0:
            self.pos = len(self.text)
            if self.pos > self.start:
                self.emit("text")
            self.items.append(_Item("eof", ""))
            return None
        self.pos = found
        after = self.text[found + 2 : found + 4]
        trim = 0
        if len(after) == 2 and after[0] == "-" and after[1] in _SPACE:
            text = self.text[self.start : self.pos]
            trim = len(text) - len(text.rstrip(_SPACE))
        self.pos -= trim
        if self.pos > self.start:
            self.emit("text")
        self.pos += trim
        self.ignore()
        return self.lex_left_delim

    def lex_left_delim(self):
        self.pos += 2
        after = self.text[self.pos : self.pos + 2]
        marker = 2 if len(after) == 2 and after[0] == "-" and after[1] in _SPACE else 0
        if self.text.startswith("/*", self.pos + marker):
            self.pos += marker
            self.ignore()
            return self.lex_comment
        self.emit("left")
        self.pos += marker
        self.ignore()
        self.paren_depth = 0
        return self.lex_inside_action

    def lex_comment(self):
        self.pos += 2
        end = self.text.find("*/", self.pos)
        if end < 0:
            raise TemplateError("unclosed comment")
        self.pos = end + 2
        delim, trim = self.at_right_delim()
        if not delim:
            raise TemplateError("comment ends before closing delimiter")
        self.pos += (2 if trim else 0) + 2
        if trim:
            rest = self.text[self.pos :]
            self.pos += len(rest) - len(rest.lstrip(_SPACE))
        self.ignore()
        return self.lex_text

    def lex_right_delim(self):
        _, trim = self.at_right_delim()
        if trim:
            self.pos += 2
            self.ignore()
        self.pos += 2
        self.emit("right")
        if trim:
            rest = self.text[self.pos :]
            self.pos += len(rest) - len(rest.lstrip(_SPACE))
            self.ignore()
        return self.lex_text

    def lex_inside_action(self):
        delim, _ = self.at_right_delim()
        if delim:
            if self.paren_depth == 0:
                return self.lex_right_delim
            raise TemplateError("unclosed left paren")
        char = self.next()
        if char == _EOF:
            raise TemplateError("unclosed action")
        if char in _SPACE:
            self.backup()
            return self.lex_space
        if char == "=":
            self.emit("assign")
        elif char == ":":
            if self.next() != "=":
                raise TemplateError("expected :=")
            self.emit("declare")
        elif char == "|":
            self.emit("pipe")
        elif char == '"':
            return self.lex_quote
        elif char == "`":
            return self.lex_raw_quote
        elif char == "$":
            return self.lex_variable
        elif char == "'":
            return self.lex_char
        elif char == "." and not ("0" <= self.peek() <= "9" and self.peek() != _EOF):
            return self.lex_field
        elif char in "+-." or "0" <= char <= "9":
            self.backup()
            return self.lex_number
        elif _is_alnum(char):
            self.backup()
            return self.lex_identifier
        elif char == "(":
            self.emit("lparen")
            self.paren_depth += 1
        elif char == ")":
            self.emit("rparen")
            self.paren_depth -= 1
            if self.paren_depth < 0:
                raise TemplateError(f"unexpected right paren {_rune(char)}")
        elif ord(char) < 0x80 and char.isprintable():
            self.emit("char")
        else:
            raise TemplateError(f"unrecognized character in action: {_rune(char)}")
        return self.lex_inside_action

    def lex_space(self):
        spaces = 0
        while self.peek() != _EOF and self.peek() in _SPACE:
            self.next()
            spaces += 1
        # A trim-marked right delimiter (" -}}") starts with a space: leave it for the delimiter.
        rest = self.text[self.pos - 1 :]
        if len(rest) >= 4 and rest[0] in _SPACE and rest[1] == "-" and rest[2:4] == "}}":
            self.backup()
            if spaces == 1:
                return self.lex_right_delim
        self.emit("space")
        return self.lex_inside_action

    def lex_identifier(self):
        while _is_alnum(self.peek()):
            self.next()
        word = self.text[self.start : self.pos]
        if not self.at_terminator():
            raise TemplateError(f"bad character {_rune(self.peek())}")
        if word in _KEYWORDS:
            self.emit(word)
        elif word in ("true", "false"):
            self.emit("bool")
        else:
            self.emit("identifier")
        return self.lex_inside_action

    def lex_field(self):
        return self._field_or_variable("field")

    def lex_variable(self):
        if self.at_terminator():
            self.emit("variable")
            return self.lex_inside_action
        return self._field_or_variable("variable")

    def _field_or_variable(self, kind: str):
        if self.at_terminator():
            self.emit("variable" if kind == "variable" else "dot")
            return self.lex_inside_action
        while _is_alnum(self.peek()):
            self.next()
        if not self.at_terminator():
            raise TemplateError(f"bad character {_rune(self.peek())}")
        self.emit(kind)
        return self.lex_inside_action

    def lex_char(self):
        return self.lex_escaped("'", "charconst", "unterminated character constant")

    def lex_number(self):
        if not self.scan_number():
            raise self.bad_number()
        if self.peek() in ("+", "-") and self.peek() != _EOF:
            if not self.scan_number() or self.text[self.pos - 1] != "i":
                raise self.bad_number()
            self.emit("complex")
        else:
            self.emit("number")
        return self.lex_inside_action

    def bad_number(self) -> TemplateError:
        return TemplateError(f"bad number syntax: {_quote(self.text[self.start : self.pos])}")

    def scan_number(self) -> bool:
        self.accept("+-")
        digits = "0123456789_"
        if self.accept("0"):
            if self.accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self.accept("oO"):
                digits = "01234567_"
            elif self.accept("bB"):
                digits = "01_"
        self.accept_run(digits)
        if self.accept("."):
            self.accept_run(digits)
        if len(digits) == 11 and self.accept("eE"):
            self.accept("+-")
            self.accept_run("0123456789_")
        if len(digits) == 23 and self.accept("pP"):
            self.accept("+-")
            self.accept_run("0123456789_")
        self.accept("i")
        if _is_alnum(self.peek()):
            self.next()
            return False
        return True

    def lex_quote(self):
        return self.lex_escaped('"', "string", "unterminated quoted string")

    def lex_escaped(self, close: str, kind: str, unterminated: str):
        """A quoted string or character constant: up to ``close``, backslash escapes skipped."""
        while True:
            char = self.next()
            if char == "\\":
                char = self.next()
                if char not in (_EOF, "\n"):
                    continue
            if char in (_EOF, "\n"):
                raise TemplateError(unterminated)
            if char == close:
                break
        self.emit(kind)
        return self.lex_inside_action

    def lex_raw_quote(self):
        end = self.text.find("`", self.pos)
        if end < 0:
            raise TemplateError("unterminated raw quoted string")
        self.pos = end + 1
        self.emit("rawstring")
        return self.lex_inside_action


# --- literals (strconv, as the parser uses it) --------------------------------------------

_SIMPLE_ESCAPES = "abfnrtv\\"
_ESCAPE_DIGITS = {"x": 2, "u": 4, "U": 8}
_DECIMAL_FLOAT = re.compile(r"[+-]?([0-9_]*\.?[0-9_]*)(?:[eE][+-]?[0-9][0-9_]*)?")
_HEX_FLOAT = re.compile(r"[+-]?0[xX]([0-9a-fA-F_]*\.?[0-9a-fA-F_]*)[pP][+-]?[0-9][0-9_]*")
_UINT_DIGITS = {"x": "0123456789abcdefABCDEF", "o": "01234567", "b": "01"}


def _unquote_escapes(body: str, quote: str) -> int:
    """Check Go's escapes in the body of a quoted literal; return how many characters it holds."""
    count = 0
    index = 0
    while index < len(body):
        char = body[index]
        if char == quote:
            raise TemplateError("invalid syntax")
        index += 1
        count += 1
        if char != "\\":
            continue
        escape = body[index : index + 1]
        index += 1
        if escape and escape in _SIMPLE_ESCAPES:
            continue
        if escape in ("'", '"') and escape:
            if escape != quote:
                raise TemplateError("invalid syntax")
            continue
        if escape in _ESCAPE_DIGITS and escape:
            size = _ESCAPE_DIGITS[escape]
            digits = body[index : index + size]
            if not re.fullmatch(f"[0-9a-fA-F]{{{size}}}", digits):
                raise TemplateError("invalid syntax")
            value = int(digits, 16)
            if escape != "x" and (value > 0x10FFFF or 0xD800 <= value <= 0xDFFF):
                raise TemplateError("invalid syntax")
            index += size
            continue
        digits = body[index - 1 : index + 2]
        if re.fullmatch(r"[0-7]{3}", digits) and int(digits, 8) <= 255:
            index += 2
            continue
        raise TemplateError("invalid syntax")
    return count


def _underscore_ok(text: str) -> bool:
    """Go's rule: an underscore only between digits, or between a base prefix and a digit."""
    saw = "^"
    text = text[1:] if text[:1] in ("+", "-") and text else text
    index = 0
    hexadecimal = False
    if len(text) >= 2 and text[0] == "0" and text[1].lower() in "box":
        index, saw, hexadecimal = 2, "0", text[1].lower() == "x"
    for char in text[index:]:
        if (char.isdigit() and char.isascii()) or (hexadecimal and char.lower() in "abcdef"):
            saw = "0"
        elif char == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
    return saw != "_"


def _go_uint(text: str) -> int | None:
    """strconv.ParseUint(text, 0, 64) without the range check; None when it is not a number."""
    if "_" in text and not _underscore_ok(text):
        return None
    digits, base = text.replace("_", ""), 10
    if len(digits) >= 2 and digits[0] == "0" and digits[1].lower() in _UINT_DIGITS:
        allowed = _UINT_DIGITS[digits[1].lower()]
        base = {"x": 16, "o": 8, "b": 2}[digits[1].lower()]
        digits = digits[2:]
    elif len(digits) >= 2 and digits[0] == "0":
        allowed, base, digits = "01234567", 8, digits[1:]
    else:
        allowed = "0123456789"
    if not digits or any(char not in allowed for char in digits):
        return None
    return int(digits, base)


def _go_int_ok(text: str) -> bool:
    """Whether strconv.ParseUint or ParseInt (base 0, 64 bits) accepts ``text``."""
    if text[:1] in ("+", "-") and text:
        value = _go_uint(text[1:])
        if value is None:
            return False
        return value <= 2**63 if text[0] == "-" else value < 2**63
    value = _go_uint(text)
    return value is not None and value < 2**64


def _go_float_ok(text: str) -> bool:
    """Whether strconv.ParseFloat(text, 64) accepts ``text`` (syntax and range)."""
    clean = text.replace("_", "")
    hexadecimal = _HEX_FLOAT.fullmatch(text)
    decimal = None if hexadecimal else _DECIMAL_FLOAT.fullmatch(text)
    match = hexadecimal or decimal
    if match is None or not re.search(r"[0-9a-fA-F]" if hexadecimal else "[0-9]", match[1]):
        return False
    try:
        value = float.fromhex(clean) if hexadecimal else float(clean)
    except (ValueError, OverflowError):
        return False
    if "_" in text and not _underscore_ok(text):
        return False
    return value not in (float("inf"), float("-inf"))


def _check_number(text: str, kind: str) -> None:
    """Raise TemplateError when the parser's number conversion refuses ``text``."""
    if kind == "charconst":
        if _unquote_escapes(text[1:-1], "'") != 1:
            raise TemplateError(f"malformed character constant: {text}")
        return
    if kind == "complex":
        split = max(text.rfind("+"), text.rfind("-"))
        while split > 0 and text[split - 1] in "eEpP":
            split = max(text.rfind("+", 0, split), text.rfind("-", 0, split))
        if split <= 0 or not (_go_float_ok(text[:split]) and _go_float_ok(text[split:-1])):
            raise TemplateError(f"illegal number syntax: {_quote(text)}")
        return
    if text.endswith("i") and _go_float_ok(text[:-1]):
        return
    if _go_int_ok(text):
        return
    if _go_float_ok(text):
        if not re.search(r"[.eEpP]", text):
            raise TemplateError(f"integer overflow: {_quote(text)}")
        return
    raise TemplateError(f"illegal number syntax: {_quote(text)}")


# --- parser (text/template/parse/parse.go) ------------------------------------------------


class _Parser:
    """Go's recursive-descent parser, reduced to what decides whether a template parses."""

    def __init__(self, items: list[_Item], name: str) -> None:
        self.items = items
        self.index = 0
        self.name = name
        self.vars = ["$"]
        self.range_depth = 0
        self.defined: dict[str, bool] = {}  # template name -> has a non-empty body

    # token access
    def next(self) -> _Item:
        item = self.peek()
        self.index += 1
        return item

    def backup(self, count: int = 1) -> None:
        self.index -= count

    def peek(self) -> _Item:
        return self.items[min(self.index, len(self.items) - 1)]  # like Go's lexer, EOF repeats

    def next_non_space(self) -> _Item:
        item = self.next()
        while item.kind == "space":
            item = self.next()
        return item

    def peek_non_space(self) -> _Item:
        item = self.next_non_space()
        self.backup()
        return item

    def expect(self, kind: str, context: str) -> _Item:
        item = self.next_non_space()
        if item.kind != kind:
            self.unexpected(item, context)
        return item

    @staticmethod
    def unexpected(item: _Item, context: str) -> None:
        shown = "EOF" if item.kind == "eof" else item.value
        raise TemplateError(f"unexpected {_quote(shown)} in {context}")

    # structure
    def parse(self) -> None:
        body_empty = True
        while self.peek().kind != "eof":
            if self.peek().kind == "left":
                start = self.index
                self.next()
                if self.next_non_space().kind == "define":
                    self.definition()
                    continue
                self.index = start
            node = self.text_or_action()
            if node in ("end", "else"):
                raise TemplateError(f"unexpected {{{{{node}}}}}")
            body_empty = body_empty and node in ("empty", "comment")
        self.add(self.name, body_empty)

    def add(self, name: str, empty: bool) -> None:
        if self.defined.get(name) and not empty:
            raise TemplateError(f"template: multiple definition of template {_quote(name)}")
        self.defined[name] = self.defined.get(name, False) or not empty

    def sub_tree(self, context: str) -> tuple[str, bool]:
        """Parse the body of a define or block, in a scope of its own."""
        saved = self.vars, self.range_depth
        self.vars, self.range_depth = ["$"], 0
        empty, end = self.item_list()
        self.vars, self.range_depth = saved
        if end != "end":
            raise TemplateError(f"unexpected {{{{{end}}}}} in {context}")
        return end, empty

    def definition(self) -> None:
        context = "define clause"
        item = self.next_non_space()
        if item.kind not in ("string", "rawstring"):
            self.unexpected(item, context)
        name = self.unquote(item)
        self.expect("right", context)
        _, empty = self.sub_tree(context)
        self.add(name, empty)

    def item_list(self) -> tuple[bool, str]:
        """Nodes up to an {{end}} or {{else}}: (whether the list is empty, which ended it)."""
        empty = True
        while self.peek_non_space().kind != "eof":
            node = self.text_or_action()
            if node in ("end", "else"):
                return empty, node
            empty = empty and node in ("empty", "comment")
        raise TemplateError("unexpected EOF")

    def text_or_action(self) -> str:
        item = self.next_non_space()
        if item.kind == "text":
            return "empty" if not item.value.strip(_SPACE) else "text"
        if item.kind == "left":
            return self.action()
        self.unexpected(item, "input")
        return ""

    def action(self) -> str:
        item = self.next_non_space()
        kind = item.kind
        if kind == "block":
            self.block()
        elif kind in ("break", "continue"):
            following = self.next_non_space()
            if following.kind != "right":
                self.unexpected(following, f"{{{{{kind}}}}}")
            if self.range_depth == 0:
                raise TemplateError(f"{{{{{kind}}}}} outside {{{{range}}}}")
        elif kind == "else":
            if self.peek_non_space().kind != "if":
                self.expect("right", "else")
            return "else"
        elif kind == "end":
            self.expect("right", "end")
            return "end"
        elif kind in ("if", "range", "with"):
            self.control(kind)
        elif kind == "template":
            context = "template clause"
            name = self.next_non_space()
            if name.kind not in ("string", "rawstring"):
                self.unexpected(name, context)
            self.unquote(name)
            if self.next_non_space().kind != "right":
                self.backup()
                self.pipeline(context, "right")
        else:
            self.backup()
            self.pipeline("command", "right")
        return "action"

    def block(self) -> None:
        context = "block clause"
        item = self.next_non_space()
        if item.kind not in ("string", "rawstring"):
            self.unexpected(item, context)
        name = self.unquote(item)
        self.pipeline(context, "right")
        _, empty = self.sub_tree(context)
        self.add(name, empty)

    def control(self, context: str) -> None:
        depth = len(self.vars)
        self.pipeline(context, "right")
        if context == "range":
            self.range_depth += 1
        _, end = self.item_list()
        if context == "range":
            self.range_depth -= 1
        if end == "else":
            if context == "if" and self.peek().kind == "if":
                self.next()
                self.control("if")  # {{else if}}: one {{end}} closes the chain
            else:
                _, end = self.item_list()
                if end != "end":
                    raise TemplateError(f"expected end; found {{{{{end}}}}}")
        del self.vars[depth:]

    # pipelines
    def pipeline(self, context: str, end: str) -> None:
        declarations = 0
        while self.peek_non_space().kind == "variable":
            at = self.index
            variable = self.next()
            following = self.peek_non_space()
            if following.kind in ("assign", "declare"):
                self.next_non_space()
                self.vars.append(variable.value)
                break
            if following.kind == "char" and following.value == ",":
                self.next_non_space()
                self.vars.append(variable.value)
                declarations += 1
                if context == "range" and declarations < 2:
                    if self.peek_non_space().kind in ("variable", "right", "rparen"):
                        continue
                    raise TemplateError("range can only initialize variables")
                raise TemplateError(f"too many declarations in {context}")
            self.index = at  # not a declaration: the variable is the first operand
            break
        commands: list[str] = []
        while True:
            item = self.next_non_space()
            if item.kind == end:
                break
            if item.kind in (
                "bool",
                "charconst",
                "complex",
                "dot",
                "field",
                "identifier",
                "number",
                "nil",
                "rawstring",
                "string",
                "variable",
                "lparen",
            ):
                self.backup()
                commands.append(self.command())
            else:
                self.unexpected(item, context)
        if not commands:
            raise TemplateError(f"missing value for {context}")
        for stage, first in enumerate(commands[1:], start=2):
            if first in ("bool", "dot", "nil", "number", "string"):
                raise TemplateError(f"non executable command in pipeline stage {stage}")

    def command(self) -> str:
        """Parse one command; return the kind of its first operand."""
        first = ""
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand and not first:
                first = operand
            item = self.next()
            if item.kind == "space":
                continue
            if item.kind in ("right", "rparen"):
                self.backup()
            elif item.kind != "pipe":
                self.unexpected(item, "operand")
            break
        if not first:
            raise TemplateError("empty command")
        return first

    def operand(self) -> str:
        kind = self.term()
        if kind and self.peek().kind == "field":
            while self.peek().kind == "field":
                self.next()
            if kind in ("bool", "string", "number", "nil", "dot"):
                raise TemplateError(f"unexpected . after term {_quote(kind)}")
            kind = kind if kind in ("field", "variable") else "chain"
        return kind

    def term(self) -> str:
        item = self.next_non_space()
        kind = item.kind
        if kind == "identifier":
            if item.value not in FUNCTIONS:
                raise TemplateError(f"function {_quote(item.value)} not defined")
            return "identifier"
        if kind in ("dot", "nil", "field", "bool"):
            return kind
        if kind == "variable":
            if item.value not in self.vars:
                raise TemplateError(f"undefined variable {_quote(item.value)}")
            return "variable"
        if kind in ("charconst", "complex", "number"):
            _check_number(item.value, kind)
            return "number"
        if kind == "lparen":
            self.pipeline("parenthesized pipeline", "rparen")
            return "pipe"
        if kind in ("string", "rawstring"):
            self.unquote(item)
            return "string"
        self.backup()
        return ""

    @staticmethod
    def unquote(item: _Item) -> str:
        if item.kind == "rawstring":
            return item.value[1:-1].replace("\r", "")
        _unquote_escapes(item.value[1:-1], '"')
        return item.value[1:-1]


def parse_error(text: str, name: str = "template") -> str | None:
    """Go's parse error for ``text`` as a template called ``name`` (None when it parses)."""
    try:
        items = _Lexer(text).run()
        _Parser(items, name).parse()
    except TemplateError as error:
        return str(error)
    return None


def prometheus_template_error(text: str, alert: str = "") -> str | None:
    """Why Prometheus refuses ``text`` as an alert label or annotation of alert ``alert``
    (None when it parses)."""
    if "{{" not in text:
        return None
    # The alert's name only matters to a template that defines templates of its own.
    return _template_error(text, alert if ("define" in text or "block" in text) else "")


@lru_cache(maxsize=1 << 14)
def _template_error(text: str, alert: str) -> str | None:
    """Cached per distinct text: specs repeat the same annotations across many SLOs."""
    error = parse_error(PROMETHEUS_PRELUDE + text, f"__alert_{alert}")
    return f"not a valid Go template (as Prometheus parses it): {error}" if error else None
