"""Helpers shared by the deployment file checks in tests/deploy/.

Paths are relative to the repository root, found from this file's place.
"""
import os
import re
import unittest

try:
    import yaml
except ImportError as e:  # Debian: python3-yaml.
    raise SystemExit(f"these checks need PyYAML (Debian package python3-yaml): {e}")

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def repo_path(*parts):
    return os.path.join(REPO, *parts)


def read_text(*parts):
    with open(repo_path(*parts), encoding="utf-8") as f:
        return f.read()


def load_yaml_docs(*parts):
    """Every document of a YAML file, without the empty ones."""
    with open(repo_path(*parts), encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def load_yaml(*parts):
    docs = load_yaml_docs(*parts)
    if len(docs) != 1:
        raise AssertionError(f"{os.path.join(*parts)}: expected one YAML document, got {len(docs)}")
    return docs[0]


def flag_values(args, name):
    """Values of --name=value flags in an argument list."""
    prefix = f"--{name}="
    return [a[len(prefix):] for a in args if a.startswith(prefix)]


def flag_names(args):
    return sorted(a.split("=", 1)[0] for a in args if a.startswith("--"))


def parse_dockerfile(*parts):
    """(instruction, arguments) pairs, continuation lines joined, comments
    and the parser directive dropped, instruction upper-cased."""
    logical, current = [], ""
    for raw in read_text(*parts).splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue  # A comment inside a continued instruction.
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        logical.append(current)
        current = ""
    if current:
        logical.append(current)
    out = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def dockerfile_stages(instructions):
    """{stage name: [(instruction, args)...]} in order; unnamed stages get
    their index as name."""
    stages, name = {}, None
    for keyword, rest in instructions:
        if keyword == "FROM":
            m = re.match(r"(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$", rest, re.IGNORECASE)
            if not m:
                raise AssertionError(f"unparsable FROM {rest!r}")
            name = m.group(2) or str(len(stages))
            stages[name] = [("FROM", m.group(1))]
        elif name is not None:
            stages[name].append((keyword, rest))
    return stages


def exec_form(rest):
    """The list of an exec-form (JSON array) instruction argument."""
    import json
    value = json.loads(rest)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AssertionError(f"not an exec-form list: {rest!r}")
    return value


def main():
    unittest.main(verbosity=2)
