#!/usr/bin/env python3
"""Checks JSON records against Koppel's canonical record schemas.

    python3 validate.py order record1.json [record2.json ...]

Each file holds one record (a JSON object) or a JSON-lines stream of them. Prints one
line per invalid record naming the file, the JSON path and the problem; exits 1 if any
record is invalid, 0 otherwise. Needs the `jsonschema` package.
"""
import json
import pathlib
import sys

import jsonschema

HERE = pathlib.Path(__file__).resolve().parent
KINDS = ["order", "customer", "product", "stock_level", "shipment", "supplier"]


def load_schemas():
    return {doc["$id"]: doc for doc in (json.loads(p.read_text()) for p in HERE.glob("*.json"))}


def validator_for(kind, schemas):
    schema = next(s for s in schemas.values() if s["$id"].endswith(f"/{kind}.json"))
    cls = jsonschema.validators.validator_for(schema)
    try:
        from referencing import Registry, Resource

        registry = Registry().with_resources((uri, Resource.from_contents(doc)) for uri, doc in schemas.items())
        return cls(schema, registry=registry, format_checker=cls.FORMAT_CHECKER)
    except ImportError:  # jsonschema before 4.18
        resolver = jsonschema.RefResolver(schema["$id"], schema, store=schemas)
        return cls(schema, resolver=resolver, format_checker=cls.FORMAT_CHECKER)


def records(path):
    text = pathlib.Path(path).read_text()
    try:
        yield 1, json.loads(text)
    except json.JSONDecodeError:
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                yield number, json.loads(line)


def main(argv):
    if len(argv) < 3 or argv[1] not in KINDS:
        print(f"usage: {argv[0]} {{{'|'.join(KINDS)}}} FILE...", file=sys.stderr)
        return 2
    validator = validator_for(argv[1], load_schemas())
    invalid = 0
    for path in argv[2:]:
        for number, record in records(path):
            for error in sorted(validator.iter_errors(record), key=lambda e: list(e.absolute_path)):
                where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
                print(f"{path}:{number}: {where}: {error.message}")
                invalid += 1
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
