"""param_str parsing for the Python layers: a JSON object, or `key: value` pairs (one per line or
separated by ';'), validated against a layer's schema with errors that name the layer and the key."""
import json

REQUIRED = object()


class ParamError(ValueError):
    pass


def _parse_value(text):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text.strip().strip('"').strip("'")


def format_params(params):
    """The `key: value; ...` form of a dict (values other than strings written as JSON)."""
    return "; ".join(f"{k}: {v if isinstance(v, str) else json.dumps(v)}" for k, v in sorted(params.items()))


def split_params(layer, param_str):
    """The {key: value} pairs of a param_str, unvalidated."""
    if param_str.lstrip().startswith("{"):
        try:
            pairs = json.loads(param_str)
        except json.JSONDecodeError as e:
            raise ParamError(f"layer '{layer}': param_str is not valid JSON ({e})") from None
        if not isinstance(pairs, dict):
            raise ParamError(f"layer '{layer}': param_str must be a JSON object")
        return pairs
    pairs = {}
    for item in param_str.replace(";", "\n").splitlines():
        if not item.strip():
            continue
        key, sep, value = item.partition(":")
        if not sep or not key.strip():
            raise ParamError(f"layer '{layer}': param_str item {item.strip()!r} is not 'key: value'")
        pairs[key.strip()] = _parse_value(value.strip())
    return pairs


def _check_type(layer, key, value, kind):
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, bool):
        raise ParamError(f"layer '{layer}': param '{key}' must be int, got {value!r}")
    if not isinstance(value, kind):
        raise ParamError(f"layer '{layer}': param '{key}' must be {kind.__name__}, got {value!r}")
    return value


def parse_params(layer, param_str, schema):
    """Return {key: value} for every key in `schema` ({key: (type, default or REQUIRED)})."""
    given = split_params(layer, param_str or "")
    unknown = sorted(set(given) - set(schema))
    if unknown:
        raise ParamError(f"layer '{layer}': unknown param '{unknown[0]}' (known: {', '.join(sorted(schema))})")
    params = {}
    for key, (kind, default) in schema.items():
        if key in given:
            params[key] = _check_type(layer, key, given[key], kind)
        elif default is REQUIRED:
            raise ParamError(f"layer '{layer}': missing required param '{key}'")
        else:
            params[key] = default
    return params
