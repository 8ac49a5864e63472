#!/usr/bin/env python3
"""Argo Rollouts' pod-template hash of a Rollout's spec.template, computed without Go.

Argo (utils/hash/hash.go ComputePodTemplateHash) decodes spec.template into a Go
corev1.PodTemplateSpec, encodes it again with Go's encoding/json, hashes those bytes with
FNV-32a (then, when status.collisionCount is set, 8 more bytes: the count as a little-endian
uint32 followed by 4 zero bytes), and writes the decimal text of the sum in Kubernetes'
SafeEncodeString alphabet. This script redoes the Go encoding from the struct definitions of
k8s.io/api core/v1 and k8s.io/apimachinery meta/v1 (field order, `omitempty`, `omitzero`,
inline embedding, HTML escaping), so it needs those two files of the versions Argo builds with
(Argo v1.9: k8s.io/api v0.34.x):

  argo_pod_template_hash.py CORE_V1_TYPES_GO META_V1_TYPES_GO TEMPLATE.json [COLLISION_COUNT]

It prints Go's JSON, Argo's hash, and ramp's hash of the same template (src/engine
PodTemplateHash: FNV-32a over the sorted-key compact JSON). Scope: the types a pod template
uses; resource.Quantity values are passed through as written (Go canonicalises them, e.g.
"0.5" -> "500m": write canonical quantities in examples).
"""
import json
import re
import struct
import sys

SAFE = "bcdfghjklmnpqrstvwxz2456789"


def fnv32a(data, h=2166136261):
    for b in data:
        h ^= b
        h = (h * 16777619) & 0xFFFFFFFF
    return h


def safe_encode(text):
    return "".join(SAFE[b % len(SAFE)] for b in text.encode())


FIELD = re.compile(r'^\s*(?:(\w+)\s+)?([\w.*\[\]]+)\s+`json:"([^"]*)"')


def parse_types(paths):
    structs, named = {}, {}
    for path in paths:
        text = open(path).read()
        for m in re.finditer(r'^type (\w+) struct \{\n(.*?)^\}', text, re.S | re.M):
            fields = []
            for line in m.group(2).splitlines():
                if line.strip().startswith("//"):
                    continue
                f = FIELD.match(line)
                if not f:
                    continue
                name, typ, tag = f.groups()
                parts = tag.split(",")
                embedded = name is None
                if embedded:
                    name = typ.split(".")[-1]
                fields.append({"go": name, "type": typ, "json": parts[0] or None,
                               "omitempty": "omitempty" in parts[1:],
                               "omitzero": "omitzero" in parts[1:], "embedded": embedded})
            structs[m.group(1)] = fields
        for m in re.finditer(r'^type (\w+) ([\w.\[\]]+)\s*$', text, re.M):
            named[m.group(1)] = m.group(2)
    return structs, named


class Encoder:
    def __init__(self, structs, named):
        self.structs, self.named = structs, named

    def base(self, typ):
        typ = typ.split(".")[-1] if "." in typ and not typ.startswith(("[", "*", "map")) else typ
        while typ in self.named:
            typ = self.named[typ]
            typ = typ.split(".")[-1] if "." in typ and not typ.startswith(("[", "*", "map")) else typ
        return typ

    def fields(self, struct_name):
        out = []
        for f in self.structs[struct_name]:
            if f["embedded"] and f["json"] is None:
                out.extend(self.fields(self.base(f["type"])))
            else:
                out.append(f)
        return out

    @staticmethod
    def string(s):
        out = ['"']
        for ch in s:
            o = ord(ch)
            if ch == '"':
                out.append('\\"')
            elif ch == "\\":
                out.append("\\\\")
            elif ch in "\b\f\n\r\t":
                out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
            elif o < 0x20 or ch in "<>&" or o in (0x2028, 0x2029):
                out.append("\\u%04x" % o)
            else:
                out.append(ch)
        out.append('"')
        return "".join(out)

    def empty(self, value, typ):
        t = self.base(typ)
        if value is None:
            return t.startswith(("*", "[]", "map[")) or t in ("string", "bool") or t in INTS
        if t.startswith(("[]", "map[")) or t == "string":
            return len(value) == 0
        if t in INTS:
            return value == 0
        if t == "bool":
            return value is False
        return False

    def encode(self, value, typ):
        t = self.base(typ)
        if t.startswith("*"):
            return "null" if value is None else self.encode(value, t[1:])
        if t.startswith("[]"):
            if value is None:
                return "null"
            return "[" + ",".join(self.encode(v, t[2:]) for v in value) + "]"
        if t.startswith("map["):
            if value is None:
                return "null"
            elem = t[t.index("]") + 1:]
            return "{" + ",".join(self.string(k) + ":" + self.encode(value[k], elem)
                                  for k in sorted(value)) + "}"
        if t == "string":
            return self.string(value or "")
        if t in INTS:
            return str(int(value or 0))
        if t == "bool":
            return "true" if value else "false"
        if t == "IntOrString":
            if value is None:
                return "0"
            return str(value) if isinstance(value, int) else self.string(value)
        if t == "Quantity":
            return self.string(str(value)) if value is not None else '"0"'
        if t == "Time":
            return "null" if value is None else self.string(value)
        if t in self.structs:
            value = value or {}
            parts = []
            for f in self.fields(t):
                key = f["json"] or f["go"]
                if key == "-":
                    continue
                v = value.get(key)
                if v is None:  # Go matches keys case-insensitively when there is no exact match
                    v = next((value[k] for k in value if k.lower() == key.lower()), None)
                if f["omitzero"] and v is None:
                    continue
                if f["omitempty"] and self.empty(v, f["type"]):
                    continue
                parts.append(self.string(key) + ":" + self.encode(v, f["type"]))
            return "{" + ",".join(parts) + "}"
        raise SystemExit("unsupported type %s (%s)" % (typ, t))


INTS = {"int", "int32", "int64", "uint32", "uint64"}


def main():
    core, meta, template_path = sys.argv[1:4]
    collision = int(sys.argv[4]) if len(sys.argv) > 4 else None
    structs, named = parse_types([core, meta])
    named.setdefault("UID", "string")  # k8s.io/apimachinery/pkg/types
    template = json.load(open(template_path))
    labels = template.get("metadata", {}).get("labels")
    if labels:
        labels.pop("rollouts-pod-template-hash", None)
    go_json = Encoder(structs, named).encode(template, "PodTemplateSpec")
    h = fnv32a(go_json.encode())
    if collision is not None:
        h = fnv32a(struct.pack("<I", collision & 0xFFFFFFFF) + b"\0\0\0\0", h)
    ramp_json = json.dumps(template, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    r = fnv32a(ramp_json.encode())
    if collision is not None:
        r = fnv32a(str(collision).encode(), r)
    print("go json:   " + go_json)
    print("argo hash: " + safe_encode(str(h)))
    print("ramp json: " + ramp_json)
    print("ramp hash: " + safe_encode(str(r)))


if __name__ == "__main__":
    main()
