"""Tools the back end can run: plain Python callables with a JSON-schema signature, so the
same table serves the offline ``tools`` provider and an LLM's tool calls.

Numbers are said aloud later, so results are short sentences, not JSON.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class ToolError(ValueError):
    """A tool was called with arguments it cannot use; the message is safe to show."""


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    fn: Callable[..., str]

    def schema(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry for this tool."""
        return {"type": "function", "function": {
            "name": self.name, "description": self.description, "parameters": self.parameters}}


_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}


def _eval(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        v = _eval(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 64:
            raise ToolError("exponent too large")
        try:
            return float(_BINOPS[type(node.op)](left, right))
        except ZeroDivisionError as exc:
            raise ToolError("division by zero") from exc
    raise ToolError("only numbers and + - * / // % ** are allowed")


def calculate(expression: str) -> str:
    """Evaluate arithmetic safely (no names, no calls): ``'12*7'`` -> ``'84'``."""
    if len(expression) > 200:
        raise ToolError("expression too long")
    try:
        tree = ast.parse(expression.replace("^", "**"), mode="eval")
    except SyntaxError as exc:
        raise ToolError(f"cannot parse {expression!r}") from exc
    return format_number(_eval(tree))


def format_number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


@dataclass
class ToolBox:
    """The tools one back end offers. ``rates`` is the offline currency table
    (units of the target currency per unit of the source currency)."""

    rates: dict[str, float] = field(default_factory=lambda: {"USD->EUR": 0.92})
    tools: dict[str, Tool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.add(Tool("calculator", "Evaluate an arithmetic expression.",
                      {"type": "object", "properties": {"expression": {"type": "string"}},
                       "required": ["expression"]}, calculate))
        self.add(Tool("convert_currency", "Convert an amount between currencies.",
                      {"type": "object", "properties": {
                          "amount": {"type": "number"},
                          "source": {"type": "string", "description": "e.g. USD"},
                          "target": {"type": "string", "description": "e.g. EUR"}},
                       "required": ["amount", "source", "target"]}, self.convert))

    def add(self, tool: Tool) -> None:
        self.tools[tool.name] = tool

    def convert(self, amount: float, source: str, target: str) -> str:
        key = f"{source.upper()}->{target.upper()}"
        if key not in self.rates:
            raise ToolError(f"no rate for {key}")
        return f"{format_number(float(amount))} {source.upper()} is " \
               f"{format_number(round(float(amount) * self.rates[key], 2))} {target.upper()}"

    def call(self, name: str, args: dict[str, Any]) -> str:
        tool = self.tools.get(name)
        if tool is None:
            raise ToolError(f"unknown tool {name!r}")
        try:
            return tool.fn(**args)
        except TypeError as exc:
            raise ToolError(f"bad arguments for {name}: {exc}") from exc
