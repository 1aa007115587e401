"""The API contract: each answer of rtjobs checked against its OpenAPI 3.0 document.

`Contract(document).problems(method, target, status, content_type, raw_body)` lists how one
answer strays from the document: an operation or a status the document does not declare, a
content type it does not name, or a body that does not match the response's schema. The harness
(harness.Http) checks every answer its suites receive and fails the test on the first problem.

Only the /v1 API is the contract: /healthz, /readyz, /metrics, /openapi.json and the fakes'
/_control routes are not checked (`checked_path`).

The schema checks cover the part of OpenAPI 3.0 / JSON Schema the document uses: $ref (to
#/components/...), allOf, oneOf, anyOf, type, nullable, enum, required, properties,
additionalProperties (false or a schema), items, minItems/maxItems, minLength/maxLength,
minimum/maximum, pattern, and the formats uuid, date and date-time. Standard library only.
"""
import json
import re

_FORMATS = {
    "uuid": re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"),
    "date": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
    "date-time": re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"),
}
_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def checked_path(path):
    """Whether answers on `path` (without its query) are held to the document: the /v1 API."""
    return path == "/v1" or path.startswith("/v1/")


def type_name(value):
    if value is None:
        return "null"
    for name in ("boolean", "integer", "number", "string", "array", "object"):
        if _TYPES[name](value):
            return name
    return type(value).__name__


class Contract:
    def __init__(self, document):
        self.document = document
        # (segments, template) per path, the most literal segments first: OpenAPI matches a
        # concrete path before a templated one (/v1/jobs/process before /v1/jobs/{job_id}).
        self._paths = sorted(
            ((template.strip("/").split("/"), template) for template in document["paths"]),
            key=lambda p: -sum(1 for s in p[0] if not s.startswith("{")))

    def template_of(self, path):
        """The document's path template that `path` (no query) falls under, or None."""
        segments = path.strip("/").split("/")
        for template_segments, template in self._paths:
            if len(template_segments) == len(segments) and all(
                    t == s or (t.startswith("{") and t.endswith("}") and s)
                    for t, s in zip(template_segments, segments)):
                return template
        return None

    def resolve(self, node):
        """`node` with its $ref followed (#/components/... within the document), repeatedly."""
        seen = 0
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise ValueError(f"only local $ref is supported: {ref}")
            node = self.document
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            seen += 1
            if seen > 50:
                raise ValueError(f"$ref loop at {ref}")
        return node

    def problems(self, method, target, status, content_type, raw_body):
        """How one answer strays from the document, as messages naming the method, the path,
        the status and, for the body, the JSON path of the field ($.data[0].status). Empty
        when it agrees or the path is not part of the contract."""
        path = target.split("?", 1)[0]
        if not checked_path(path):
            return []
        where = f"{method} {path} -> {status}"
        template = self.template_of(path)
        if template is None:
            return [f"{where}: no path of the document matches {path}"]
        operation = self.document["paths"][template].get(method.lower())
        if operation is None:
            return [f"{where}: the document declares no {method} operation on {template}"]
        where = f"{method} {path} ({operation.get('operationId', template)}) -> {status}"
        responses = operation.get("responses", {})
        response = (responses.get(str(status)) or responses.get(f"{str(status)[0]}XX")
                    or responses.get("default"))
        if response is None:
            return [f"{where}: status {status} is not declared for {method} {template} "
                    f"(declared: {', '.join(sorted(responses))})"]
        response = self.resolve(response)
        content = response.get("content")
        if not content:
            if raw_body:
                return [f"{where}: the document declares no body, the answer has "
                        f"{len(raw_body)} bytes"]
            return []
        media = (content_type or "").split(";", 1)[0].strip().lower()
        if media not in content:
            return [f"{where}: content type {content_type!r} is not declared "
                    f"(declared: {', '.join(sorted(content))})"]
        schema = content[media].get("schema")
        if schema is None:
            return []
        if media == "application/json" or media.endswith("+json"):
            try:
                body = json.loads(raw_body)
            except ValueError as e:
                return [f"{where}: the body is not JSON ({e}): {raw_body[:200]!r}"]
        else:
            body = raw_body.decode(errors="replace")
        return [f"{where}: {p}" for p in self.check(schema, body)]

    def check(self, schema, value, at="$"):
        """The ways `value` does not match `schema`, each naming the JSON path it is at."""
        schema = self.resolve(schema)
        if value is None:
            if schema.get("nullable"):
                return []
            # A schema without a type (only allOf etc.) says nothing about null in itself.
            if "type" in schema or "enum" in schema or "properties" in schema:
                return [f"{at}: null, but the schema is not nullable"]
        out = []
        kind = schema.get("type")
        if kind is not None:
            if kind not in _TYPES:
                raise ValueError(f"unsupported type {kind} at {at}")
            if not _TYPES[kind](value):
                return [f"{at}: {type_name(value)} {_short(value)}, the document says {kind}"]
        if "enum" in schema and value not in schema["enum"]:
            out.append(f"{at}: {_short(value)} is not one of {schema['enum']}")
        for sub in schema.get("allOf", []):
            out += self.check(sub, value, at)
        for key in ("oneOf", "anyOf"):
            if key in schema:
                matching = sum(1 for sub in schema[key] if not self.check(sub, value, at))
                if matching == 0 or (key == "oneOf" and matching > 1):
                    out.append(f"{at}: matches {matching} of the {key} schemas")
        if isinstance(value, str):
            out += self._check_string(schema, value, at)
        elif _TYPES["number"](value):
            if "minimum" in schema and value < schema["minimum"]:
                out.append(f"{at}: {value} is below the minimum {schema['minimum']}")
            if "maximum" in schema and value > schema["maximum"]:
                out.append(f"{at}: {value} is above the maximum {schema['maximum']}")
        elif isinstance(value, list):
            if "minItems" in schema and len(value) < schema["minItems"]:
                out.append(f"{at}: {len(value)} items, fewer than minItems {schema['minItems']}")
            if "maxItems" in schema and len(value) > schema["maxItems"]:
                out.append(f"{at}: {len(value)} items, more than maxItems {schema['maxItems']}")
            if "items" in schema:
                for i, item in enumerate(value):
                    out += self.check(schema["items"], item, f"{at}[{i}]")
        elif isinstance(value, dict):
            out += self._check_object(schema, value, at)
        return out

    def _check_string(self, schema, value, at):
        out = []
        if "minLength" in schema and len(value) < schema["minLength"]:
            out.append(f"{at}: shorter than minLength {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.append(f"{at}: longer than maxLength {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(f"{at}: {_short(value)} does not match the pattern {schema['pattern']}")
        check = _FORMATS.get(schema.get("format"))
        if check is not None and not check.match(value):
            out.append(f"{at}: {_short(value)} is not a {schema['format']}")
        return out

    def _check_object(self, schema, value, at):
        out = []
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                out.append(f"{at}.{name}: required, and missing")
        for name, item in value.items():
            if name in properties:
                out += self.check(properties[name], item, f"{at}.{name}")
        extra = schema.get("additionalProperties", True)
        if extra is not True:
            for name, item in value.items():
                if name in properties:
                    continue
                if extra is False:
                    out.append(f"{at}.{name}: not a property the document declares")
                else:
                    out += self.check(extra, item, f"{at}.{name}")
        return out


def _short(value):
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
