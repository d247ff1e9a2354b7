#!/usr/bin/env python3
"""Writes semantics_cases.json: small templates rendered by Python jinja2 in
transformers' configuration (ImmutableSandboxedEnvironment, trim_blocks,
lstrip_blocks, loopcontrols, tojson = json.dumps(ensure_ascii=False)), for
tests/engine/chat_template/interpreter_test.cc. Each case is
{"template", "vars", "expected"} or {"template", "vars", "error": true}.
Run: python3 tests/data/chat_template/make_semantics_cases.py (needs
python3-jinja2); the output is committed, so the tests need no Python.
"""
import json
import os
from datetime import datetime
import os

from jinja2 import nodes
from jinja2.exceptions import TemplateError
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


class AssistantTracker(Extension):
    # transformers' {% generation %} tag: renders its body.
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent,
                      separators=separators, sort_keys=sort_keys)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                    extensions=[AssistantTracker, loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
# The clock the C++ test gives Render(): 2024-07-26 12:00:00 local time.
env.globals["strftime_now"] = lambda fmt: datetime(2024, 7, 26, 12, 0, 0).strftime(fmt)

MSGS = [{"role": "system", "content": " Be brief. "},
        {"role": "user", "content": "Hi \u00e9\u00e8 \U0001F600"},
        {"role": "assistant", "content": "Hello!"}]

CASES = [
    # Whitespace control, trim_blocks, lstrip_blocks, comments, raw.
    ("a\n  {% if true %}\n  b\n  {% endif %}\nc", {}),
    ("a  {%- if true -%}  b  {%- endif -%}  c", {}),
    ("x {{- ' y ' -}} z", {}),
    ("{# comment #}\nA{#- c -#}  B\n  {# indented #}\nC", {}),
    ("{% raw %}{{ not evaluated }}{% endraw %}", {}),
    ("  {%+ if true %}kept{% endif %}", {}),
    ("{% if true %}x{% endif %}\n\n", {}),
    ("line1\r\nline2\r{{ 'a' }}\n", {}),
    ("{{ 1 }}\n{{ 2 }}\n", {}),
    # Values print as Python prints them.
    ("{{ none }}|{{ true }}|{{ false }}|{{ 1.0 }}|{{ 1e16 }}|{{ 1e-5 }}|{{ 0.1 + 0.2 }}|{{ 2.5e-7 }}|{{ 123456789.125 }}", {}),
    ("{{ [1, 'a', none, true, {'k': \"it's\"}] }}|{{ (1,) }}|{{ () }}|{{ {'a': [1.5]} }}", {}),
    ("{{ ['say \"hi\"', \"it's\", 'both \\' \"', 'tab\\t', 'nl\\n', '\\x01', '\\u00e9', '\\u00a0'] }}", {}),
    ("{{ messages }}", {"messages": MSGS}),
    ("{{ x }}|{{ x is defined }}|{{ d.missing }}|{{ d['missing'] }}|{{ xs[10] }}", {"d": {}, "xs": [1]}),
    # Arithmetic.
    ("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 10 / 4 }} {{ 10 / 5 }}", {}),
    ("{{ 'ab' * 3 }} {{ [1] * 2 }} {{ 'a' ~ 1 ~ none ~ x }} {{ 1 + 2 * 3 - 4 }} {{ -3|abs }} {{ 2 ** 3 ** 2 }}", {}),
    ("{{ 'a' + 'b' }} {{ [1] + [2] }} {{ 1 + 1.5 }} {{ true + 1 }}", {}),
    # Comparisons, logic, conditional expressions.
    ("{{ 1 < 2 < 3 }} {{ 1 == 1.0 }} {{ 'a' in 'cat' }} {{ 'x' not in ['x'] }} {{ 'k' in {'k': 1} }} {{ 2 in [1, 2] }}", {}),
    ("{{ 0 or 'b' }} {{ 'a' and 'b' }} {{ '' and 'b' }} {{ not [] }} {{ 'y' if x else 'n' }} [{{ 'y' if x }}]", {"x": 0}),
    ("{{ [1, 2] == [1, 2] }} {{ {'a': 1} == {'a': 1} }} {{ none == none }} {{ (1, 2) < (1, 3) }} {{ 'b' > 'a' }}", {}),
    # Loops.
    ("{% for x in xs %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }};{% endfor %}", {"xs": ["a", "b", "c"]}),
    ("{% for x in xs %}{{ loop.previtem }}<{{ x }}>{{ loop.nextitem }} {{ loop.cycle('odd', 'even') }};{% endfor %}", {"xs": [1, 2, 3]}),
    ("{% for x in xs if x % 2 %}{{ x }}{{ loop.length }}{% else %}empty{% endfor %}", {"xs": [1, 2, 3, 4, 5]}),
    ("{% for x in xs %}{{ x }}{% else %}empty{% endfor %}", {"xs": []}),
    ("{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor %}", {"d": {"b": 1, "a": 2}}),
    ("{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}{% for c in 'h\u00e9' %}[{{ c }}]{% endfor %}", {}),
    ("{% for x in [1, 2] %}{% for y in [3, 4] %}{{ loop.index }}{{ x }}{{ y }} {% endfor %}{{ loop.index }};{% endfor %}", {}),
    # Scoping: set inside a loop does not leak; namespace does.
    ("{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = x + 1 %}{{ x }}{% endfor %}{{ x }}", {}),
    ("{% set ns = namespace(n=0, found=false) %}{% for i in [1, 2, 3] %}{% set ns.n = ns.n + i %}{% if i == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.n }} {{ ns.found }}", {}),
    ("{% if true %}{% set y = 'set in if' %}{% endif %}{{ y }}", {}),
    ("{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = 1, 2 %}{{ t }}", {}),
    ("{% set block %}  inner {{ 1 + 1 }}  {% endset %}[{{ block }}]{% set up | upper %}shout{% endset %}{{ up }}", {}),
    ("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', punct='?') }} {{ greet(name='C') }}", {}),
    ("{% filter upper %}hello {{ 'world' }}{% endfilter %}{% with a = 5 %}{{ a }}{% endwith %}{{ a }}", {}),
    ("{% generation %}gen {{ 1 }}{% endgeneration %}", {}),
    # Slicing and indexing.
    ("{{ 'abcdef'[::-1] }} {{ 'abcdef'[1:4] }} {{ 'abcdef'[-2:] }} {{ 'abcdef'[::2] }} {{ [1, 2, 3, 4][1:] }} {{ [1, 2, 3][::-1] }} {{ 'h\u00e9llo'[1] }} {{ 'abc'[-1] }}", {}),
    ("{{ xs[-1] }} {{ xs[0]['role'] }} {{ xs[0].role }} {{ xs[1:][0].content }} {{ xs.0.role }}", {"xs": MSGS}),
    # Filters.
    ("{{ xs|length }} {{ 'h\u00e9'|length }} {{ xs|first }} {{ xs|last }} {{ xs|join(', ') }} {{ [1, 2]|join }} {{ xs|count }}", {"xs": ["a", "b", "c"]}),
    ("{{ '  a b  '|trim }}|{{ 'xxaxx'|trim('x') }}|{{ 'hello world'|upper }}|{{ 'HeLLo'|lower }}|{{ 'hello WORLD'|capitalize }}|{{ \"hello-world it's (x)\"|title }}", {}),
    ("{{ 'aaa'|replace('a', 'b') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ x|default('dflt') }} {{ ''|default('e', true) }} {{ none|d('n') }} {{ 0|default(5) }}", {}),
    ("{{ 42|string }}{{ '12'|int + 1 }} {{ '3.7'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ 3.9|int }} {{ '2.5'|float }} {{ 'x'|float }} {{ 3|float }}", {}),
    ("{{ 'abc'|list }} {{ {'a': 1}|list }} {{ [3, 1, 2]|sort }} {{ ['b', 'A', 'c']|sort }} {{ [3, 1, 2]|sort(reverse=true) }} {{ [1, 2, 2, 1]|unique|list }} {{ ['A', 'a']|unique|list }}", {}),
    ("{{ [1, 2, 3]|sum }} {{ [1, 5, 3]|max }} {{ [4, 2, 8]|min }} {{ ['b', 'A']|max }} {{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 3|round }} {{ 3.14159|round(2, 'floor') }}", {}),
    ("{{ {'b': 1, 'a': 2}|dictsort }} {{ {'b': 1, 'a': 2}|dictsort(by='value') }} {{ {'b': 1, 'a': 2}|items|list }}", {}),
    ("{{ xs|map(attribute='role')|join(',') }} {{ xs|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }} {{ xs|rejectattr('role', 'eq', 'user')|list|length }}", {"xs": MSGS}),
    ("{{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('even')|list }} {{ ['a', '', 'b']|select|list }} {{ ['a', 'B']|map('upper')|list }} {{ [0, 1]|reject|list }}", {}),
    ("{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(2, blank=true) }}", {}),
    ("{{ '<a href=\"x\">&\\''|e }} {{ '<b>'|safe }} {{ ('<' | e) + '<' }} {{ '%s and %s'|format('a', 1) }} {{ 'abc'|center(9) }}|{{ 'ab'|reverse }}", {}),
    # tojson: json.dumps semantics.
    ("{{ d|tojson }}", {"d": {"b": [1, 2.5, None, True, "\u00e9\"\\\n\t<&>'"], "a": {}, "c": []}}),
    ("{{ d|tojson(indent=2) }}", {"d": {"b": [1, {"x": []}], "a": "s"}}),
    ("{{ d|tojson(sort_keys=true) }}|{{ d|tojson(ensure_ascii=true) }}|{{ 'x'|tojson }}|{{ 1.0|tojson }}|{{ d|tojson(separators=(',', ':')) }}", {"d": {"z": "\u00e9\U0001F600", "a": 1}}),
    # Tests.
    ("{{ x is defined }} {{ y is undefined }} {{ n is none }} {{ 's' is string }} {{ 1 is number }} {{ 1 is integer }} {{ 1.0 is float }} {{ true is boolean }} {{ true is true }} {{ 0 is false }}", {"x": 1, "n": None}),
    ("{{ {} is mapping }} {{ [] is iterable }} {{ 's' is iterable }} {{ 3 is iterable }} {{ [] is sequence }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 1 is in [1] }} {{ 'ab' is lower }} {{ 'AB' is upper }}", {}),
    ("{{ x is not none }} {{ not x is defined }} {{ 1 is eq 1 }} {{ 2 is gt 1 }} {{ range is callable }} {{ 'x' is callable }} {{ none is sameas none }}", {"x": None}),
    # Python methods.
    ("{{ ' a '.strip() }}|{{ 'xxaxx'.lstrip('x') }}|{{ 'xxaxx'.rstrip('x') }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'a b c'.rsplit(' ', 1) }}", {}),
    ("{{ 'hello'.startswith('he') }} {{ 'hello'.endswith(('x', 'lo')) }} {{ 'hello'.upper() }} {{ 'Hello World'.lower() }} {{ \"they're bill's\".title() }} {{ 'hELLO'.capitalize() }} {{ 'a-b'.replace('-', '+') }}", {}),
    ("{{ 'h\u00e9llo'.find('l') }} {{ 'hello'.rfind('l') }} {{ 'hello'.count('l') }} {{ '-'.join(['a', 'b']) }} {{ 'a\\nb'.splitlines() }} {{ '12'.isdigit() }} {{ '{} and {x}'.format(1, x=2) }}", {}),
    ("{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 5) }} {{ d.keys()|list }} {{ d.values()|list }} {{ d.items()|list }} {{ [1, 2, 1].count(1) }} {{ [1, 2].index(2) }}", {"d": {"a": 1, "b": 2}}),
    # Globals.
    ("{{ range(3)|list }} {{ range(1, 10, 3)|list }} {{ range(5, 0, -2)|list }} {{ dict(a=1) }} {{ namespace(a=1).a }}", {}),
    ("{{ strftime_now('%Y-%m-%d %H:%M %b %A') }}", {}),
    # String literals.
    ("{{ 'a\\tb' }}|{{ \"q\\\"q\" }}|{{ 'x' 'y' }}|{{ '\\u00e9\\x41\\101' }}|{{ 'back\\\\slash' }}|{{ 'unknown \\d escape' }}", {}),
    # Literal-looking content is data.
    ("{{ messages[0].content }}", {"messages": [{"content": "{{ x }} {% if %}"}]}),
    # Errors.
    ("{{ raise_exception('custom message') }}", {}, "custom message"),
    ("{{ [1].append(2) }}", {}, None),
    ("{{ {'a': 1}.update({}) }}", {}, None),
    ("{{ ''.__class__ }}|", {}, "print"),
    ("{{ x.y }}", {}, None),
    ("{{ 1 + 'a' }}", {}, None),
    ("{{ 'a' + 1 }}", {}, None),
    ("{{ x + 1 }}", {}, None),
    ("{{ range(200000)|length }}", {}, None),
    ("{{ 1 // 0 }}", {}, None),
    ("{{ none.x }}|{{ none[0] }}", {}, "print"),
    ("{{ 'abc'[::0] }}", {}, None),
    ("{{ undefined_thing|tojson }}", {}, None),
    ("{% for a, b in [[1, 2, 3]] %}{% endfor %}", {}, None),
    ("{% set x = 5 %}{% set x.attr = 1 %}", {}, None),
    ("{{ 3 < 'a' }}", {}, None),
    ("{{ 1 in none }}", {}, None),
    ("{{ 'abc'.zfill(5) }}", {}, "skip"),
]


def main():
    out = []
    for entry in CASES:
        template, variables = entry[0], entry[1]
        mode = entry[2] if len(entry) > 2 else "print"
        if mode == "skip":
            continue
        case = {"template": template, "vars": variables}
        try:
            case["expected"] = env.from_string(template).render(**variables)
            if mode not in ("print",):
                raise SystemExit(f"expected an error: {template!r}")
        except TemplateError as e:
            if mode == "print":
                raise SystemExit(f"unexpected error {e!r}: {template!r}")
            case["error"] = True
            if mode is not None:
                case["message"] = mode
        except Exception as e:  # Python errors: TypeError, OverflowError...
            if mode == "print":
                raise SystemExit(f"unexpected error {e!r}: {template!r}")
            case["error"] = True
        out.append(case)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "semantics_cases.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{len(out)} cases -> {path}")


if __name__ == "__main__":
    main()
